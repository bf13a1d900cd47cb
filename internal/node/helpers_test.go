package node_test

import (
	"context"
	"fmt"
	"github.com/skiff-sh/skiff/internal/node"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/apiserver"
	crt "github.com/skiff-sh/skiff/internal/runtime"
	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestMain(m *testing.M) {
	crt.MaybeRunInit()
	os.Exit(m.Run())
}

const testNode = "test-node"

// testEnv is a server, an agent on it and clients.
type testEnv struct {
	ts     *testserver.Server
	agent  *node.Agent
	rt     crt.Runtime
	client kubernetes.Interface
	ns     string
	// proxy serves pods/log and pods/eviction through the agent's handlers
	// and everything else from the server (the integrator wires them into
	// the API server; the test server does not have them yet).
	proxyConfig *rest.Config
	proxyURL    string
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newFakeEnv(t *testing.T) *testEnv {
	return newEnv(t, crt.NewFake(), nil)
}

func newProcessEnv(t *testing.T) *testEnv {
	rt, err := crt.NewProcess(crt.ProcessConfig{Dir: t.TempDir(), Logger: testLogger(t), KillTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("process runtime: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return newEnv(t, rt, nil)
}

func newEnv(t *testing.T, rt crt.Runtime, mutate func(*node.Config)) *testEnv {
	t.Helper()
	ts := testserver.Start(t, testserver.Options{APIOnly: true, PublishRootCA: true})
	e := &testEnv{ts: ts, rt: rt, client: ts.Client, ns: "default"}
	e.agent = startAgent(t, ts.Client, rt, mutate)
	e.startProxy(t)
	return e
}

func startAgent(t *testing.T, client kubernetes.Interface, rt crt.Runtime, mutate func(*node.Config)) *node.Agent {
	t.Helper()
	cfg := node.Config{Client: client, Runtime: rt, NodeName: testNode, Logger: testLogger(t),
		BackoffBase: 300 * time.Millisecond, BackoffMax: 2 * time.Second, ShutdownGracePeriod: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := node.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-errc:
		errc <- err // for the cleanup, which waits for Run's result
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("agent not ready")
	}
	return a
}

func (e *testEnv) startProxy(t *testing.T) {
	target, err := url.Parse(e.ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(e.ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	infos := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	subs := map[string]apiserver.SubresourceHandler{"log": e.agent.LogHandler(), "eviction": e.agent.EvictionHandler()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := infos.NewRequestInfo(r)
		if err == nil && info.Resource == "pods" && subs[info.Subresource] != nil {
			req := &apiserver.Request{Info: info, Namespace: info.Namespace, Name: info.Name}
			if err := subs[info.Subresource].ServeSubresource(w, r, req); err != nil {
				responsewriters.ErrorNegotiated(err, scheme.Codecs, schema.GroupVersion{Version: "v1"}, w, r)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.proxyURL = srv.URL
	e.proxyConfig = &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}, QPS: -1}
}

// rawGet does a GET through the proxy and returns code and body.
func (e *testEnv) rawGet(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.proxyURL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *testEnv) create(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := e.client.CoreV1().Pods(e.ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return out
}

// waitPod polls the pod until cond holds.
func (e *testEnv) waitPod(t *testing.T, name string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	deadline := time.Now().Add(timeout)
	for {
		p, err := e.client.CoreV1().Pods(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("get pod %s: %v", name, err)
		}
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: condition not met within %s; last status: %s", name, timeout, describe(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *testEnv) waitGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	testserver.PollUntil(t, timeout, func() (bool, error) {
		_, err := e.client.CoreV1().Pods(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func phaseIs(phases ...corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, ph := range phases {
			if p.Status.Phase == ph {
				return true
			}
		}
		return false
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s reason=%s msg=%q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d state=%+v last=%+v]", cs.Name, cs.RestartCount, cs.State, cs.LastTerminationState)
	}
	return b.String()
}

// testPod is a pod bound to the test node with the given containers.
func testPod(name string, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "test"}},
		Spec: corev1.PodSpec{NodeName: testNode, RestartPolicy: policy, Containers: containers,
			TerminationGracePeriodSeconds: &grace},
	}
}

func shC(name, script string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Command: []string{"sh", "-c", script}}
}

func fakeC(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.k8s.io/pause:3.10"}
}

// logs reads a container's log through client-go's GetLogs (via the proxy).
func (e *testEnv) logs(t *testing.T, pod string, opts *corev1.PodLogOptions) string {
	t.Helper()
	c, err := kubernetes.NewForConfig(e.proxyConfig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CoreV1().Pods(e.ns).GetLogs(pod, opts).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s: %v", pod, err)
	}
	return string(b)
}

func terminated(p *corev1.Pod, container string) *corev1.ContainerStateTerminated {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == container {
			return cs.State.Terminated
		}
	}
	return nil
}

func resourceQuantity(n int64) *resource.Quantity {
	return resource.NewQuantity(n, resource.DecimalSI)
}
