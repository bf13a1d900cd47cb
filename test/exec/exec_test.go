// Package exec_test drives the streaming pod subresources on the whole
// server (real processes) with client-go, as kubectl does: pods/exec with the
// WebSocket executor (v5.channel.k8s.io, kubectl's first choice) and the SPDY
// one (its fallback), pods/portforward with SPDY tunneled through a WebSocket
// and plain SPDY.
package exec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// TestMain lets the process runtime re-execute this test binary as its
// container init helper.
func TestMain(m *testing.M) {
	crt.MaybeRunInit()
	os.Exit(m.Run())
}

const ns = "default"

// runPod creates a busybox pod running command and waits until it reaches
// phase.
func runPod(t *testing.T, ts *testserver.Server, name string, phase corev1.PodPhase, command ...string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox", Command: command}},
		},
	}
	if _, err := ts.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 2*time.Minute, func() (bool, error) {
		p, err := ts.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed && phase != corev1.PodFailed {
			return false, fmt.Errorf("pod %s failed: %+v", name, p.Status)
		}
		return p.Status.Phase == phase, nil
	})
}

// execURL is the pods/exec URL client-go's kubectl builds.
func execURL(ts *testserver.Server, pod string, opts *corev1.PodExecOptions) *url.URL {
	return ts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).
		SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// executors are client-go's two ways to exec, as kubectl makes them.
func executors(t *testing.T, ts *testserver.Server, u *url.URL) map[string]remotecommand.Executor {
	t.Helper()
	spdy, err := remotecommand.NewSPDYExecutor(ts.Config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(ts.Config, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]remotecommand.Executor{"websocket": ws, "spdy": spdy}
}

// fixedSize is a TerminalSizeQueue that reports one size, then ends.
type fixedSize struct{ sent bool }

func (q *fixedSize) Next() *remotecommand.TerminalSize {
	if q.sent {
		return nil
	}
	q.sent = true
	return &remotecommand.TerminalSize{Width: 100, Height: 30}
}

func TestExec_StreamsExitCodesAndTerminals(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	runPod(t, ts, "sleeper", corev1.PodRunning, "sleep", "3600")
	tests := map[string]struct {
		cmd                    []string
		stdin                  string
		tty                    bool
		wantStdout, wantStderr string
		wantCode               int // 0: success
	}{
		"stdout, stderr and the exit code": {cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, wantStdout: "out\n", wantStderr: "err\n", wantCode: 7},
		"stdin until its end":              {cmd: []string{"cat"}, stdin: "one\ntwo\n", wantStdout: "one\ntwo\n"},
		"in the container":                 {cmd: []string{"sh", "-c", "hostname; echo $PWD"}, wantStdout: "sleeper\n/\n"},
		// The client sends its size as the command starts: wait for it.
		"a terminal of the client's size": {cmd: []string{"sh", "-c", `tty >/dev/null || exit 1
for i in $(seq 100); do s=$(stty size 2>/dev/null); case "$s" in ""|"0 0") sleep 0.1;; *) break;; esac; done; echo "$s"`}, tty: true, wantStdout: "30 100\r\n"},
	}
	for name, tc := range tests {
		opts := &corev1.PodExecOptions{Command: tc.cmd, Stdin: tc.stdin != "", Stdout: true, Stderr: !tc.tty, TTY: tc.tty}
		for proto, exec := range executors(t, ts, execURL(ts, "sleeper", opts)) {
			t.Run(name+"/"+proto, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				so := remotecommand.StreamOptions{Stdout: &stdout, Tty: tc.tty}
				if !tc.tty {
					so.Stderr = &stderr
				} else {
					so.TerminalSizeQueue = &fixedSize{}
				}
				if tc.stdin != "" {
					so.Stdin = strings.NewReader(tc.stdin)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := exec.StreamWithContext(ctx, so)
				var exitErr utilexec.CodeExitError
				switch {
				case tc.wantCode == 0 && err != nil:
					t.Fatalf("exec: %v", err)
				case tc.wantCode != 0 && (!errors.As(err, &exitErr) || exitErr.Code != tc.wantCode):
					t.Fatalf("exec error = %v, want exit code %d", err, tc.wantCode)
				}
				// A terminal may echo or prefix; its line is what matters.
				if got := stdout.String(); (tc.tty && !strings.HasSuffix(got, tc.wantStdout)) || (!tc.tty && got != tc.wantStdout) {
					t.Errorf("stdout = %q, want %q", got, tc.wantStdout)
				}
				if got := stderr.String(); got != tc.wantStderr {
					t.Errorf("stderr = %q, want %q", got, tc.wantStderr)
				}
			})
		}
	}
}

// Each refusal as kube-apiserver (404, a 400 on the container) or the
// kubelet behind it (a 400 on the streams, a 500 for a container that is
// not running) gives it, through both protocols.
func TestExec_Refusals(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	runPod(t, ts, "sleeper", corev1.PodRunning, "sleep", "3600")
	runPod(t, ts, "done", corev1.PodSucceeded, "true")
	cmd := []string{"true"}
	tests := map[string]struct {
		pod     string
		opts    *corev1.PodExecOptions
		wantErr string
	}{
		"missing pod":           {"nope", &corev1.PodExecOptions{Command: cmd, Stdout: true}, `pods "nope" not found`},
		"unknown container":     {"sleeper", &corev1.PodExecOptions{Container: "x", Command: cmd, Stdout: true}, "container x is not valid for pod sleeper"},
		"no stream":             {"sleeper", &corev1.PodExecOptions{Command: cmd}, "you must specify at least 1 of stdin, stdout, stderr"},
		"container not running": {"done", &corev1.PodExecOptions{Command: cmd, Stdout: true}, `container not found ("c")`},
	}
	for name, tc := range tests {
		for proto, exec := range executors(t, ts, execURL(ts, tc.pod, tc.opts)) {
			t.Run(name+"/"+proto, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &bytes.Buffer{}})
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("exec error = %v, want one containing %q", err, tc.wantErr)
				}
			})
		}
	}
}
