package node_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// hookPod is flagPod with a container that appends "TERM" to /flag/order
// when it gets SIGTERM, and exits 0.
func hookPod(name, dir string) *corev1.Pod {
	pod := flagPod(name, corev1.RestartPolicyNever, dir)
	pod.Spec.Containers[0].Command = []string{"sh", "-c", `trap 'echo TERM >> /flag/order; exit 0' TERM; echo ready; while true; do sleep 0.1; done`}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Finalizers = []string{holdFinalizer} // keeps the final status readable
	return pod
}

func preStop(h corev1.LifecycleHandler) *corev1.Lifecycle { return &corev1.Lifecycle{PreStop: &h} }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestAgent_Process_PreStopHooks(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	var hookRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "kube-lifecycle/1.37" && r.URL.Path == "/drain" {
			hookRequests.Add(1)
		}
		http.Error(w, "any answer will do", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	port, _ := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])

	dirs := map[string]string{}
	pods := map[string]*corev1.Lifecycle{
		// The hook runs to its end before SIGTERM.
		"exec": preStop(corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo hook-start >> /flag/order; sleep 1; echo hook-end >> /flag/order"}}}),
		// A failed hook is an event, and the kill goes on.
		"fails": preStop(corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo no >&2; exit 3"}}}),
		// An HTTP answer of any code is success.
		"http":  preStop(corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain", Port: intstr.FromInt32(int32(port))}}),
		"sleep": preStop(corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 2}}),
	}
	for name, lc := range pods {
		dirs[name] = t.TempDir()
		pod := hookPod("prestop-"+name, dirs[name])
		pod.Spec.Containers[0].Lifecycle = lc
		e.create(t, pod)
	}
	for name := range pods {
		e.waitPod(t, "prestop-"+name, 30*time.Second, phaseIs(corev1.PodRunning))
		testLogContains(t, e, "prestop-"+name, "ready")
	}
	start := time.Now()
	for name := range pods {
		if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), "prestop-"+name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ended := map[string]time.Duration{}
	for name := range pods {
		got := e.waitPod(t, "prestop-"+name, 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
		ended[name] = time.Since(start)
		if term := terminated(got, "main"); got.Status.Phase != corev1.PodSucceeded || term == nil || term.ExitCode != 0 {
			t.Errorf("%s: the container did not end on SIGTERM: %s", name, describe(got))
		}
	}
	if got, want := readFile(t, filepath.Join(dirs["exec"], "order")), "hook-start\nhook-end\nTERM\n"; got != want {
		t.Errorf("exec hook and SIGTERM in the order %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dirs["fails"], "order")); got != "TERM\n" {
		t.Errorf("after a failed hook: %q, want the container stopped with SIGTERM", got)
	}
	failed := pollContainerEvent(t, e, "prestop-fails", "FailedPreStopHook")
	if failed.Type != corev1.EventTypeWarning || failed.Message != "PreStopHook failed" || failed.InvolvedObject.FieldPath != "spec.containers{main}" {
		t.Errorf("FailedPreStopHook event = %s %q on %q", failed.Type, failed.Message, failed.InvolvedObject.FieldPath)
	}
	if n := hookRequests.Load(); n != 1 {
		t.Errorf("httpGet hook sent %d requests, want 1", n)
	}
	if ended["sleep"] < 2*time.Second {
		t.Errorf("the container with a 2s sleep hook ended %s after its deletion", ended["sleep"])
	}
	evs, err := e.client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		if ev.Reason == "FailedPreStopHook" && ev.InvolvedObject.Name != "prestop-fails" {
			t.Errorf("%s: FailedPreStopHook event for a hook that passed", ev.InvolvedObject.Name)
		}
	}
	for name := range pods {
		e.waitPod(t, "prestop-"+name, 20*time.Second, deletionConfirmed)
		e.release(t, "prestop-"+name)
	}
}

// A preStop hook that outlives the grace period is cut short: the
// container still gets SIGTERM, and the kubelet's minimum 2s to handle it.
func TestAgent_Process_PreStopHookLongerThanGrace(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := hookPod("prestop-long", dir)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	pod.Spec.Containers[0].Lifecycle = preStop(corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "600"}}})
	e.create(t, pod)
	e.waitPod(t, pod.Name, 30*time.Second, phaseIs(corev1.PodRunning))
	testLogContains(t, e, pod.Name, "ready")
	start := time.Now()
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, pod.Name, 20*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	took := time.Since(start)
	if term := terminated(got, "main"); term == nil || term.ExitCode != 0 {
		t.Errorf("the container did not end on SIGTERM: %s", describe(got))
	}
	if took < time.Second || took > 10*time.Second {
		t.Errorf("stopped %s after the deletion, want the 1s grace period spent on the hook, then SIGTERM", took)
	}
	if order := readFile(t, filepath.Join(dir, "order")); order != "TERM\n" {
		t.Errorf("order = %q", order)
	}
	e.waitPod(t, pod.Name, 20*time.Second, deletionConfirmed)
	e.release(t, pod.Name)
}

func TestAgent_Process_PostStartHooks(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()

	// The hook holds back the container's Running state and the pod's next
	// container until it returns.
	ordered := flagPod("poststart", corev1.RestartPolicyNever, dir)
	ordered.Spec.Containers[0].Command = []string{"sh", "-c", "exec sleep 600"}
	ordered.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "while [ ! -f /flag/go ]; do sleep 0.1; done; echo hook > /flag/hook-done"}}}}
	second := shC("second", "if [ -f /flag/hook-done ]; then echo after; else echo before; fi; exec sleep 600")
	second.VolumeMounts = ordered.Spec.Containers[0].VolumeMounts
	ordered.Spec.Containers = append(ordered.Spec.Containers, second)
	ordered.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	e.create(t, ordered)
	pollContainerEvent(t, e, "poststart", "Started")
	e.waitPod(t, "poststart", 30*time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 2 && p.Status.Phase == corev1.PodPending &&
			mainStatus(p).State.Waiting != nil && mainStatus(p).State.Waiting.Reason == "ContainerCreating"
	})
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "poststart", 30*time.Second, func(p *corev1.Pod) bool {
		running := mainStatus(p).State.Running != nil
		if running && readFile(t, filepath.Join(dir, "hook-done")) == "" {
			t.Errorf("reported running before its postStart hook returned: %s", describe(p))
		}
		return running && p.Status.ContainerStatuses[1].State.Running != nil
	})
	if got := e.logs(t, "poststart", &corev1.PodLogOptions{Container: "second"}); got != "after\n" {
		t.Errorf("second container logged %q: it started before the first one's postStart hook returned", got)
	}

	// A failing hook kills the container; the restart waits with the
	// hook's message until its own hook returns.
	failing := flagPod("poststart-fails", corev1.RestartPolicyAlways, dir)
	failing.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	hook := []string{"sh", "-c", "if [ -f /flag/failed ]; then while [ ! -f /flag/release ]; do sleep 0.1; done; else touch /flag/failed; echo oops >&2; exit 7; fi"}
	failing.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: hook}}}
	failing = e.create(t, failing)
	want := fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: command '%s' exited with 7: oops\n, message: %q",
		hook, "main", "poststart-fails_default("+string(failing.UID)+")", strings.Join(hook, " "), "oops\n")
	got := e.waitPod(t, "poststart-fails", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).State.Waiting != nil && mainStatus(p).State.Waiting.Reason == "PostStartHookError"
	})
	cs := mainStatus(got)
	if cs.State.Waiting.Message != want || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 137 {
		t.Errorf("after the failed hook: %s\nwant message %q", describe(got), want)
	}
	ev := pollContainerEvent(t, e, "poststart-fails", "FailedPostStartHook")
	if ev.Type != corev1.EventTypeWarning || ev.Message != "PostStartHook failed" || ev.InvolvedObject.FieldPath != "spec.containers{main}" {
		t.Errorf("FailedPostStartHook event = %s %q on %q", ev.Type, ev.Message, ev.InvolvedObject.FieldPath)
	}
	if ev := pollContainerEvent(t, e, "poststart-fails", "Killing"); ev.Message != "FailedPostStartHook" {
		t.Errorf("Killing event message %q", ev.Message)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "poststart-fails", 30*time.Second, func(p *corev1.Pod) bool { return mainStatus(p).State.Running != nil })

	// tcpSocket passes validation but no kubelet runs it.
	tcp := testPod("poststart-tcp", corev1.RestartPolicyNever, shC("main", "exec sleep 600"))
	tcp.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	tcp.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
	e.create(t, tcp)
	if got := e.waitPod(t, "poststart-tcp", 30*time.Second, phaseIs(corev1.PodFailed, corev1.PodSucceeded)); got.Status.Phase != corev1.PodFailed {
		t.Errorf("tcpSocket postStart: %s", describe(got))
	}
	pollContainerEvent(t, e, "poststart-tcp", "FailedPostStartHook")

	// A hook that hangs does not hold the pod's deletion back.
	hangs := testPod("poststart-hangs", corev1.RestartPolicyNever, shC("main", "exec sleep 600"))
	hangs.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "600"}}}}
	e.create(t, hangs)
	pollContainerEvent(t, e, "poststart-hangs", "Started")
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), "poststart-hangs", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, "poststart-hangs", 15*time.Second)
}
