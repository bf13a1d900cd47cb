package exec_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// stdinPod creates a running pod whose container keeps its standard input
// open for one attach (kubectl run -i), on a terminal with tty.
func stdinPod(t *testing.T, ts *testserver.Server, name string, tty bool, command ...string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: command, Stdin: true, StdinOnce: true, TTY: tty}},
		},
	}
	if _, err := ts.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 2*time.Minute, func() (bool, error) {
		p, err := ts.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
}

func attachURL(ts *testserver.Server, pod string, opts *corev1.PodAttachOptions) string {
	return ts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).
		SubResource("attach").VersionedParams(opts, scheme.ParameterCodec).URL().String()
}

// Attaching connects the client to the running workload through both
// protocols: its input (closed at the client's end, as StdinOnce asks), its
// output on separate streams, or its terminal; the session ends with the
// workload.
func TestAttach_StreamsAndTerminals(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	for _, proto := range []string{"websocket", "spdy"} {
		t.Run(proto, func(t *testing.T) {
			pipes, term := "pipes-"+proto, "term-"+proto
			stdinPod(t, ts, pipes, false, "sh", "-c", "read line; echo got $line; echo done >&2")
			stdinPod(t, ts, term, true, "sh")
			for name, tc := range map[string]struct {
				pod, stdin         string
				tty                bool
				wantOut, wantErr   string
				outContainsNotOnly bool
			}{
				"pipes":    {pod: pipes, stdin: "world\n", wantOut: "got world\n", wantErr: "done\n"},
				"terminal": {pod: term, stdin: "tty; echo $((6*7)); exit\n", tty: true, wantOut: "42\r\n", outContainsNotOnly: true},
			} {
				t.Run(name, func(t *testing.T) {
					u := attachURL(ts, tc.pod, &corev1.PodAttachOptions{Stdin: true, Stdout: true, Stderr: !tc.tty, TTY: tc.tty})
					var exec remotecommand.Executor
					var err error
					if proto == "spdy" {
						exec, err = remotecommand.NewSPDYExecutor(ts.Config, "POST", mustParse(t, u))
					} else {
						exec, err = remotecommand.NewWebSocketExecutor(ts.Config, "GET", u)
					}
					if err != nil {
						t.Fatal(err)
					}
					var stdout, stderr bytes.Buffer
					so := remotecommand.StreamOptions{Stdin: strings.NewReader(tc.stdin), Stdout: &stdout, Tty: tc.tty}
					if !tc.tty {
						so.Stderr = &stderr
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := exec.StreamWithContext(ctx, so); err != nil {
						t.Fatalf("attach: %v", err)
					}
					if got := stdout.String(); (tc.outContainsNotOnly && !strings.Contains(got, tc.wantOut)) || (!tc.outContainsNotOnly && got != tc.wantOut) {
						t.Errorf("stdout = %q, want %q", got, tc.wantOut)
					}
					if tc.tty && !strings.Contains(stdout.String(), "/dev/pts/") {
						t.Errorf("stdout = %q, want the workload on a terminal", stdout.String())
					}
					if got := stderr.String(); got != tc.wantErr {
						t.Errorf("stderr = %q, want %q", got, tc.wantErr)
					}
				})
			}
		})
	}
}

// Attaching to a container that no longer runs is refused as the kubelet
// refuses it.
func TestAttach_NotRunning(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	runPod(t, ts, "done", corev1.PodSucceeded, "true")
	for proto, exec := range map[string]func() (remotecommand.Executor, error){
		"websocket": func() (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(ts.Config, "GET", attachURL(ts, "done", &corev1.PodAttachOptions{Stdout: true}))
		},
		"spdy": func() (remotecommand.Executor, error) {
			return remotecommand.NewSPDYExecutor(ts.Config, "POST", mustParse(t, attachURL(ts, "done", &corev1.PodAttachOptions{Stdout: true})))
		},
	} {
		t.Run(proto, func(t *testing.T) {
			e, err := exec()
			if err != nil {
				t.Fatal(err)
			}
			err = e.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &bytes.Buffer{}})
			if want := "container c not found in pod done_default"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("attach error = %v, want one containing %q", err, want)
			}
		})
	}
}
