package node_test

import (
	"context"
	"fmt"
	"github.com/skiff-sh/skiff/internal/node"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

func TestAgent_Run_RegistersNodeAndLease(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	ctx := context.Background()
	node, err := e.client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	wantLabels := map[string]string{"kubernetes.io/hostname": testNode, "kubernetes.io/os": "linux", "kubernetes.io/arch": node.Labels["kubernetes.io/arch"]}
	if diff := cmp.Diff(wantLabels, node.Labels); diff != "" || node.Labels["kubernetes.io/arch"] == "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !nodeReadyCond(node) {
		t.Errorf("node not Ready: %+v", node.Status.Conditions)
	}
	if got := node.Status.Allocatable.Pods().Value(); got != 110 {
		t.Errorf("allocatable pods = %d, want 110", got)
	}
	if node.Status.Capacity.Cpu().IsZero() || node.Status.Capacity.Memory().IsZero() {
		t.Errorf("capacity missing cpu/memory: %v", node.Status.Capacity)
	}
	info := node.Status.NodeInfo
	if info.KubeletVersion != "v1.37.2-skiff" || info.ContainerRuntimeVersion != "skiff-fake://v1.37.2-skiff" {
		t.Errorf("nodeInfo = %+v", info)
	}
	lease, err := e.client.CoordinationV1().Leases("kube-node-lease").Get(ctx, testNode, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	if *lease.Spec.HolderIdentity != testNode || *lease.Spec.LeaseDurationSeconds != 40 || lease.Spec.RenewTime == nil {
		t.Errorf("lease spec = %+v", lease.Spec)
	}
}

func nodeReadyCond(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && c.Reason == "KubeletReady" {
			return true
		}
	}
	return false
}

func TestAgent_FakeRuntime_ExitCodes(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	tests := map[string]struct {
		annotations map[string]string
		wantPhase   corev1.PodPhase
		wantCode    int32
		wantReason  string
	}{
		"exits at once with zero":     {nil, corev1.PodSucceeded, 0, "Completed"},
		"exit code annotation fails":  {map[string]string{crt.AnnotationFakeExitCode: "3"}, corev1.PodFailed, 3, "Error"},
		"duration then success":       {map[string]string{crt.AnnotationFakeDuration: "200ms"}, corev1.PodSucceeded, 0, "Completed"},
		"duration then exit code 255": {map[string]string{crt.AnnotationFakeDuration: "100ms", crt.AnnotationFakeExitCode: "255"}, corev1.PodFailed, 255, "Error"},
	}
	i := 0
	for name, tc := range tests {
		i++
		pod := testPod(fmt.Sprintf("fake-%d", i), corev1.RestartPolicyNever, fakeC("main"))
		pod.Annotations = tc.annotations
		e.create(t, pod)
		got := e.waitPod(t, pod.Name, 20*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
		term := terminated(got, "main")
		if got.Status.Phase != tc.wantPhase || term == nil || term.ExitCode != tc.wantCode || term.Reason != tc.wantReason {
			t.Errorf("%s: %s", name, describe(got))
			continue
		}
		if got.Status.StartTime == nil || got.Status.HostIP != "127.0.0.1" || got.Status.PodIP != "127.0.0.1" ||
			got.Status.ContainerStatuses[0].ContainerID == "" {
			t.Errorf("%s: startTime/IPs/containerID missing: %+v", name, got.Status)
		}
		conds := map[corev1.PodConditionType]corev1.ConditionStatus{}
		for _, c := range got.Status.Conditions {
			conds[c.Type] = c.Status
		}
		want := map[corev1.PodConditionType]corev1.ConditionStatus{
			corev1.PodScheduled: corev1.ConditionTrue, corev1.PodInitialized: corev1.ConditionTrue,
			corev1.PodReady: corev1.ConditionFalse, corev1.ContainersReady: corev1.ConditionFalse,
			corev1.PodReadyToStartContainers: corev1.ConditionFalse,
		}
		if diff := cmp.Diff(want, conds); diff != "" {
			t.Errorf("%s: conditions (-want +got):\n%s", name, diff)
		}
	}
}

func TestAgent_FakeRuntime_ThousandPods(t *testing.T) {
	e := newEnv(t, crt.NewFake(), func(c *node.Config) {
		c.Capacity = corev1.ResourceList{corev1.ResourcePods: *resourceQuantity(2000)}
	})
	const n = 1000
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := e.client.CoreV1().Pods(e.ns).Create(ctx, testPod(fmt.Sprintf("p-%d", i), corev1.RestartPolicyNever, fakeC("c")), metav1.CreateOptions{})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	created := time.Since(start)
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Succeeded"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d/%d pods succeeded", len(list.Items), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d pods created in %s, all Succeeded after %s", n, created, time.Since(start))
}

func TestAgent_Reconcile_LostPodsFailAndDanglingContainersGo(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	pod := testPod("long", corev1.RestartPolicyNever, fakeC("main"))
	pod.Annotations = map[string]string{crt.AnnotationFakeDuration: "1h"}
	e.create(t, pod)
	e.waitPod(t, "long", 20*time.Second, phaseIs(corev1.PodRunning))

	// A new agent with a new runtime (as after a restart): the runtime does
	// not know the pod, and holds a container of a pod that does not exist.
	rt := crt.NewFake()
	ctx := context.Background()
	if _, err := rt.StartContainer(ctx, crt.ContainerSpec{PodUID: "dangling-uid", PodNamespace: "default", PodName: "ghost", Name: "c", Fake: crt.FakeBehavior{Duration: -1}}); err != nil {
		t.Fatal(err)
	}
	startAgent(t, e.client, rt, func(c *node.Config) { c.NodeName = testNode })
	got := e.waitPod(t, "long", 20*time.Second, phaseIs(corev1.PodFailed))
	if got.Status.Reason != node.ReasonNodeAgentRestarted || got.Status.Message != fmt.Sprintf(node.MessageLostFormat, testNode) {
		t.Errorf("reason/message = %q/%q", got.Status.Reason, got.Status.Message)
	}
	if term := terminated(got, "main"); term == nil || term.Reason != "ContainerStatusUnknown" || term.ExitCode != 137 {
		t.Errorf("container state: %s", describe(got))
	}
	list, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("dangling containers left: %+v", list)
	}
}

func TestAgent_Delete_TerminalPodConfirmedAtOnce(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	e.create(t, testPod("done", corev1.RestartPolicyNever, fakeC("main")))
	e.waitPod(t, "done", 20*time.Second, phaseIs(corev1.PodSucceeded))
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), "done", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, "done", 10*time.Second)
}

func TestAgent_Delete_FinalizerKeepsPodUntilRemoved(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	pod := testPod("fin", corev1.RestartPolicyNever, fakeC("main"))
	pod.Annotations = map[string]string{crt.AnnotationFakeDuration: "1h"}
	pod.Finalizers = []string{holdFinalizer} // (the Job controller would strip job-tracking from this orphan)
	e.create(t, pod)
	e.waitPod(t, "fin", 20*time.Second, phaseIs(corev1.PodRunning))
	ctx := context.Background()
	if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, "fin", 20*time.Second, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
	})
	if term := terminated(got, "main"); term == nil || term.ExitCode != 143 {
		t.Errorf("container: %s", describe(got))
	}
	got.Finalizers = nil
	if _, err := e.client.CoreV1().Pods(e.ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, "fin", 10*time.Second)
}
