package scheduler_test

import (
	"context"
	"fmt"
	"github.com/skiff-sh/skiff/internal/node/scheduler"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/testserver"
)

func startScheduler(t *testing.T) (*testserver.Server, kubernetes.Interface) {
	t.Helper()
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	s, err := scheduler.New(scheduler.Config{Client: ts.Client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-errc:
		t.Fatalf("scheduler stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("scheduler not ready")
	}
	return ts, ts.Client
}

func createNode(t *testing.T, c kubernetes.Interface, name string, labels map[string]string, cpu string, pods int64) {
	t.Helper()
	ctx := context.Background()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI)}
	n.Status.Capacity = n.Status.Allocatable
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func pod(name string, selector map[string]string, cpu string) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "busybox"}
	if cpu != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{c}, RestartPolicy: corev1.RestartPolicyNever}}
}

func waitPod(t *testing.T, c kubernetes.Interface, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		got = p
		return err == nil && cond(p), nil
	})
	return got
}

func scheduledCond(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestScheduler_Run_BindsMatchingNodeAndReportsUnschedulable(t *testing.T) {
	t.Parallel()
	_, c := startScheduler(t)
	createNode(t, c, "node-a", map[string]string{"kubernetes.io/hostname": "node-a", "disk": "ssd"}, "2", 110)
	createNode(t, c, "node-b", map[string]string{"kubernetes.io/hostname": "node-b"}, "2", 110)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{
		pod("ssd", map[string]string{"disk": "ssd"}, ""),
		pod("by-host", map[string]string{"kubernetes.io/hostname": "node-b"}, ""),
		pod("nowhere", map[string]string{"disk": "tape"}, ""),
		pod("too-big", nil, "3"),
	} {
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := waitPod(t, c, "ssd", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); got.Spec.NodeName != "node-a" {
		t.Errorf("ssd bound to %q", got.Spec.NodeName)
	}
	if got := waitPod(t, c, "by-host", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); got.Spec.NodeName != "node-b" {
		t.Errorf("by-host bound to %q", got.Spec.NodeName)
	}
	want := map[string]string{
		"nowhere": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
		"too-big": "0/2 nodes are available: 2 Insufficient cpu.",
	}
	for name, msg := range want {
		got := waitPod(t, c, name, func(p *corev1.Pod) bool { return scheduledCond(p) != nil })
		cond := scheduledCond(got)
		if diff := cmp.Diff(corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg},
			corev1.PodCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason, Message: cond.Message}); diff != "" {
			t.Errorf("%s condition (-want +got):\n%s", name, diff)
		}
	}
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		evs, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == "nowhere" && ev.Reason == "FailedScheduling" && ev.Type == corev1.EventTypeWarning && ev.Message == want["nowhere"] {
				return true, nil
			}
		}
		return false, nil
	})
	// A node that matches appears: the pod is retried and bound.
	createNode(t, c, "node-c", map[string]string{"disk": "tape"}, "2", 110)
	if got := waitPod(t, c, "nowhere", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); got.Spec.NodeName != "node-c" {
		t.Errorf("nowhere bound to %q", got.Spec.NodeName)
	}
}

func TestScheduler_Run_BindsThousandPodsFast(t *testing.T) {
	ts, c := startScheduler(t)
	_ = ts
	createNode(t, c, "big", nil, "64", 5000)
	ctx := context.Background()
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := c.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("p%d", i), nil, ""), metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	created := time.Now()
	testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=big"})
		return err == nil && len(list.Items) == n, err
	})
	t.Logf("all %d pods bound %s after the last was created", n, time.Since(created))
}

func TestFitMessage_Format(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		nodes   int
		reasons map[string]int
		want    string
	}{
		"one reason":     {1, map[string]int{scheduler.ReasonAffinity: 1}, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		"sorted reasons": {3, map[string]int{"Insufficient cpu": 2, scheduler.ReasonAffinity: 1}, "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."},
	}
	for name, tc := range tests {
		if got := scheduler.FitMessage(tc.nodes, tc.reasons); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
