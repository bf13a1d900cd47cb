package exec_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// dialers are client-go's two ways to port-forward, as kubectl makes them:
// SPDY tunneled through a WebSocket (its first choice) and plain SPDY.
func dialers(t *testing.T, ts *testserver.Server, pod string) map[string]httpstream.Dialer {
	t.Helper()
	u := ts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]httpstream.Dialer{
		"websocket": tunnel,
		"spdy":      spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u),
	}
}

// forward starts forwarding a local port to the pod's port and returns the
// local port once ready, or the forwarder's error.
func forward(t *testing.T, dialer httpstream.Dialer, podPort int) (int, error) {
	t.Helper()
	stop, ready, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	t.Cleanup(func() { close(stop) })
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(podPort)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return 0, err
	case <-time.After(time.Minute):
		t.Fatal("port forward not ready after a minute")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	return int(ports[0].Local), nil
}

// Port-forwarding reaches a server in the pod through both protocols, one
// connection after another over the same session.
func TestPortForward_ReachesThePod(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	port := testserver.FreePort(t)
	runPod(t, ts, "web", corev1.PodRunning, "sh", "-c",
		"mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p "+strconv.Itoa(port)+" -h /www")
	for proto, dialer := range dialers(t, ts, "web") {
		t.Run(proto, func(t *testing.T) {
			local, err := forward(t, dialer, port)
			if err != nil {
				t.Fatalf("forwarding: %v", err)
			}
			for i := range 3 {
				// The pod's server may still be starting: poll the first answer.
				var body string
				testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
					resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", local))
					if err != nil {
						return false, nil
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					body = string(b)
					return err == nil && resp.StatusCode == http.StatusOK, nil
				})
				if body != "hello\n" {
					t.Errorf("request %d through the forward = %q, want the pod's file", i, body)
				}
			}
		})
	}
}

// A pod that runs nothing, or none at all, is refused as the kubelet and
// kube-apiserver refuse it.
func TestPortForward_Refusals(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	runPod(t, ts, "done", corev1.PodSucceeded, "true")
	for pod, wantErr := range map[string]string{"done": `pod not found ("done_default")`, "nope": `pods "nope" not found`} {
		for proto, dialer := range dialers(t, ts, pod) {
			t.Run(pod+"/"+proto, func(t *testing.T) {
				_, err := forward(t, dialer, 80)
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Errorf("forwarding error = %v, want one containing %q", err, wantErr)
				}
			})
		}
	}
}
