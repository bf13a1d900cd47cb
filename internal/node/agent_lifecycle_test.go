package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestAgent_Process_GracefulTermination(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	trap := testPod("trap", corev1.RestartPolicyNever,
		shC("main", `trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done`))
	ignore := testPod("ignore", corev1.RestartPolicyNever,
		shC("main", `trap '' TERM; echo ready; while true; do sleep 0.1; done`))
	ignore.Spec.TerminationGracePeriodSeconds = ptr.To(int64(2))
	for _, p := range []*corev1.Pod{trap, ignore} {
		p.Finalizers = []string{holdFinalizer} // keeps the final status readable
		e.create(t, p)
		e.waitPod(t, p.Name, 30*time.Second, phaseIs(corev1.PodRunning))
		testLogContains(t, e, p.Name, "ready")
	}
	ctx := context.Background()
	start := time.Now()
	for _, name := range []string{"trap", "ignore"} {
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The trapping container exits 0 at once; its status is written before
	// the pod goes.
	var trapped, ignored *corev1.Pod
	e.waitPod(t, "trap", 20*time.Second, func(p *corev1.Pod) bool { trapped = p; return p.Status.Phase == corev1.PodSucceeded })
	e.waitPod(t, "ignore", 20*time.Second, func(p *corev1.Pod) bool { ignored = p; return p.Status.Phase == corev1.PodFailed })
	if term := terminated(trapped, "main"); term == nil || term.ExitCode != 0 {
		t.Errorf("trap: %s", describe(trapped))
	}
	if term := terminated(ignored, "main"); term == nil || term.ExitCode != 137 || term.Reason != "Error" {
		t.Errorf("ignore: %s", describe(ignored))
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("container ignoring SIGTERM was killed after %s, before its 2s grace period", took)
	}
	for _, name := range []string{"trap", "ignore"} {
		e.waitPod(t, name, 20*time.Second, deletionConfirmed)
		e.release(t, name)
		e.waitGone(t, name, 20*time.Second)
	}
}

func testLogContains(t *testing.T, e *testEnv, pod, want string) {
	t.Helper()
	testLogContainerContains(t, e, pod, "", want)
}

func TestAgent_Process_ActiveDeadlineSeconds(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("deadline", corev1.RestartPolicyNever, shC("main", "sleep 30"))
	pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(1))
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(1))
	e.create(t, pod)
	got := e.waitPod(t, "deadline", 30*time.Second, phaseIs(corev1.PodFailed, corev1.PodSucceeded))
	if got.Status.Phase != corev1.PodFailed || got.Status.Reason != "DeadlineExceeded" ||
		got.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("deadline: %s", describe(got))
	}
	// sleep is PID 1 of its PID namespace and ignores SIGTERM, as in any
	// container runtime: it is killed at the end of the grace period.
	if term := terminated(got, "main"); term == nil || (term.ExitCode != 143 && term.ExitCode != 137) {
		t.Errorf("container: %s", describe(got))
	}
}

func TestAgent_Process_RestartAlwaysCrashLoop(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	e.create(t, testPod("always", corev1.RestartPolicyAlways, shC("main", "echo run; exit 0")))
	got := e.waitPod(t, "always", 30*time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
	})
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running: %s", got.Status.Phase, describe(got))
	}
	if lt := got.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.Reason != "Completed" {
		t.Errorf("lastState: %s", describe(got))
	}
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), "always", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, "always", 20*time.Second)
}

func TestEvictionHandler_ServeSubresource_EvictsGracefully(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	victim := testPod("victim", corev1.RestartPolicyNever, shC("main", `trap 'exit 0' TERM; while true; do sleep 0.1; done`))
	victim.Finalizers = []string{holdFinalizer}
	e.create(t, victim)
	e.waitPod(t, "victim", 30*time.Second, phaseIs(corev1.PodRunning))
	body, _ := json.Marshal(&policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
		ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: "default"}})
	resp, err := http.Post(e.proxyURL+"/api/v1/namespaces/default/pods/victim/eviction", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var st metav1.Status
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != 201 || st.Status != metav1.StatusSuccess || st.Code != 201 {
		t.Fatalf("eviction answer: %d %+v", resp.StatusCode, st)
	}
	got := e.waitPod(t, "victim", 20*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	var cond *corev1.PodCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == corev1.DisruptionTarget {
			cond = &got.Status.Conditions[i]
		}
	}
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != "EvictionByEvictionAPI" || cond.Message != "Eviction API: evicting" {
		t.Errorf("DisruptionTarget condition: %+v", got.Status.Conditions)
	}
	e.waitPod(t, "victim", 20*time.Second, deletionConfirmed)
	e.release(t, "victim")
	e.waitGone(t, "victim", 20*time.Second)

	resp, err = http.Post(e.proxyURL+"/api/v1/namespaces/default/pods/victim/eviction", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("eviction of a missing pod: %d, want 404", resp.StatusCode)
	}
}

const holdFinalizer = "test.skiff.dev/hold"

// deletionConfirmed: the agent sent its grace-0 DELETE (a finalizer keeps
// the object).
func deletionConfirmed(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
}

// release removes the pod's finalizers.
func (e *testEnv) release(t *testing.T, name string) {
	t.Helper()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := e.client.CoreV1().Pods(e.ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("releasing %s: %v", name, err)
	}
}

// Even a deletion with grace 0 gives the container the kubelet's minimum
// of 2s between SIGTERM and SIGKILL.
func TestAgent_Process_GraceZeroStillSendsSIGTERM(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("forced", corev1.RestartPolicyNever,
		shC("main", `trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done`))
	pod.Finalizers = []string{holdFinalizer} // keeps the final status readable
	e.create(t, pod)
	e.waitPod(t, "forced", 30*time.Second, phaseIs(corev1.PodRunning))
	testLogContains(t, e, "forced", "ready")
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), "forced", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, "forced", 20*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if term := terminated(got, "main"); term == nil || term.ExitCode != 0 {
		t.Errorf("container deleted with grace 0 did not get to handle SIGTERM: %s", describe(got))
	}
	e.release(t, "forced")
}
