package podgc

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type podOpt func(*corev1.Pod)

func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
		CreationTimestamp: metav1.NewTime(now)}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func onNode(n string) podOpt          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func createdAgo(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}
func evicted() podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed; p.Status.Reason = "Evicted" }
}
func terminating() podOpt {
	return func(p *corev1.Pod) { ts := metav1.NewTime(now); p.DeletionTimestamp = &ts }
}

func newNode(name string, ready bool, taints ...corev1.Taint) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}}}
}

// setup builds a controller whose caches hold cached and whose live API holds
// cached plus live.
func setup(t *testing.T, threshold int, cached []runtime.Object, live ...runtime.Object) (*Controller, *fake.Clientset, *clocktesting.FakeClock) {
	t.Helper()
	client := fake.NewClientset(append(append([]runtime.Object(nil), cached...), live...)...)
	clk := clocktesting.NewFakeClock(now)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Informers: factory, Clock: clk, TerminatedPodThreshold: threshold, Quarantine: 40 * time.Second})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	c.parallelism = 4
	t.Cleanup(c.nodeQueue.ShutDown)
	for _, obj := range cached {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = factory.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatalf("seeding cache: %v", err)
		}
	}
	return c, client, clk
}

// requests summarises the pod writes: "patch-status <name> <body>" and
// "delete <name> grace=<n>", sorted.
func requests(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case clienttesting.PatchActionImpl:
			out = append(out, "patch-"+a.GetSubresource()+" "+a.GetName()+" "+string(a.GetPatch()))
		case clienttesting.DeleteActionImpl:
			grace := "nil"
			if g := a.DeleteOptions.GracePeriodSeconds; g != nil {
				grace = strconv.FormatInt(*g, 10)
			}
			out = append(out, "delete "+a.GetName()+" grace="+grace)
		}
	}
	sort.Strings(out)
	return out
}

func TestController_GC_Cases(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		threshold int
		cached    []runtime.Object
		want      []string
	}{
		"terminated pods above the threshold go, evicted then oldest first": {
			threshold: 2,
			cached: []runtime.Object{
				newPod("new", phase(corev1.PodSucceeded), createdAgo(time.Minute)),
				newPod("old", phase(corev1.PodFailed), createdAgo(time.Hour)),
				newPod("evicted", evicted(), createdAgo(time.Second)),
				newPod("mid", phase(corev1.PodSucceeded), createdAgo(30*time.Minute)),
				newPod("running", createdAgo(2*time.Hour)),
			},
			want: []string{"delete evicted grace=0", "delete old grace=0"},
		},
		"terminated pods within the threshold stay": {
			threshold: 5,
			cached:    []runtime.Object{newPod("a", phase(corev1.PodSucceeded)), newPod("b", phase(corev1.PodFailed))},
		},
		"a negative threshold disables the terminated collection": {
			threshold: -1,
			cached:    []runtime.Object{newPod("a", phase(corev1.PodSucceeded))},
		},
		"an unscheduled terminating pod is marked failed and force-deleted": {
			cached: []runtime.Object{newPod("u", terminating()), newPod("bound", terminating(), onNode("n1")), newNode("n1", true)},
			want:   []string{"delete u grace=0", `patch-status u {"status":{"phase":"Failed"}}`},
		},
		"a terminating pod on a NotReady out-of-service node is force-deleted": {
			cached: []runtime.Object{
				newPod("oos", terminating(), onNode("n1")),
				newPod("oos-running", onNode("n1")),
				newNode("n1", false, corev1.Taint{Key: taintOutOfService, Effect: corev1.TaintEffectNoExecute}),
			},
			want: []string{"delete oos grace=0", `patch-status oos {"status":{"phase":"Failed"}}`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, client, _ := setup(t, tc.threshold, tc.cached)
			c.gc(context.Background())
			if diff := cmp.Diff(tc.want, requests(client)); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_GC_OrphanedAfterQuarantine(t *testing.T) {
	t.Parallel()
	cached := []runtime.Object{
		newPod("orphan", onNode("gone")),
		newPod("done", onNode("gone"), phase(corev1.PodSucceeded)),
		newPod("lagging", onNode("new-node")), // node exists live, not yet in the cache
		newPod("fine", onNode("n1")),
		newNode("n1", true),
	}
	c, client, clk := setup(t, 0, cached, newNode("new-node", true))

	c.gc(context.Background())
	if got := requests(client); len(got) != 0 {
		t.Fatalf("requests during quarantine = %v, want none", got)
	}
	clk.Step(40 * time.Second)
	pollUntil(t, 5*time.Second, "quarantine over", func() bool { return c.nodeQueue.Len() == 2 })
	c.gc(context.Background())
	want := []string{
		"delete done grace=0",
		"delete orphan grace=0",
		`patch-status orphan {"status":{"phase":"Failed","conditions":[{"type":"DisruptionTarget","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-01T12:00:40Z","reason":"DeletionByPodGC","message":"PodGC: node no longer exists"}]}}`,
	}
	if diff := cmp.Diff(want, requests(client)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestController_Run_CollectsEveryPeriod(t *testing.T) {
	t.Parallel()
	pod := newPod("u", terminating())
	client := fake.NewClientset(pod)
	clk := clocktesting.NewFakeClock(now)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Informers: factory, Clock: clk})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	pollUntil(t, 10*time.Second, "unscheduled terminating pod deleted", func() bool {
		_, err := client.CoreV1().Pods("ns").Get(context.Background(), "u", metav1.GetOptions{})
		return err != nil
	})
}
