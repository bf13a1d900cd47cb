package bench

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// pollUntil polls fn until it returns true or timeout passes.
func pollUntil(t *testing.T, timeout time.Duration, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withBinding makes the fake clientset honour pods/binding like a server:
// it sets spec.nodeName of an unbound pod, and conflicts on a bound one.
func withBinding(cs *fake.Clientset) {
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	cs.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		create, ok := action.(k8stesting.CreateAction)
		if !ok || action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*corev1.Binding)
		obj, err := cs.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(podsGVR.GroupResource(), b.Name, nil)
		}
		pod.Spec.NodeName = b.Target.Name
		return true, b, cs.Tracker().Update(podsGVR, pod, b.Namespace)
	})
}

func newPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "main", Image: "busybox"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func startFakeNode(t *testing.T, cs *fake.Clientset, cfg FakeNodeConfig) (cancel func()) {
	t.Helper()
	cfg.Client = cs
	n, err := NewFakeNode(cfg)
	if err != nil {
		t.Fatalf("NewFakeNode: %v", err)
	}
	ctx, cancelCtx := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-errc:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("fake node not ready within 10s")
	}
	return func() {
		cancelCtx()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func getPod(t *testing.T, cs *fake.Clientset, name string) (*corev1.Pod, error) {
	t.Helper()
	return cs.CoreV1().Pods("ns").Get(t.Context(), name, metav1.GetOptions{})
}

func TestFakeNode_Run_BindsAndCompletesPods(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset(newPod("unbound", ""), newPod("elsewhere", "other-node"))
	withBinding(cs)
	stop := startFakeNode(t, cs, FakeNodeConfig{NodeName: "fake-1", Namespace: "ns"})

	pollUntil(t, 10*time.Second, func() bool {
		p, err := getPod(t, cs, "unbound")
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
	p, _ := getPod(t, cs, "unbound")
	if p.Spec.NodeName != "fake-1" {
		t.Errorf("nodeName = %q, want fake-1", p.Spec.NodeName)
	}
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
		t.Errorf("container state = %+v, want terminated with exit code 0", p.Status.ContainerStatuses[0].State)
	}
	other, _ := getPod(t, cs, "elsewhere")
	if diff := cmp.Diff(corev1.PodPending, other.Status.Phase); diff != "" {
		t.Errorf("pod on another node changed phase (-want +got):\n%s", diff)
	}
	node, err := cs.CoreV1().Nodes().Get(t.Context(), "fake-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node not registered: %v", err)
	}
	if got := node.Status.Conditions[0]; got.Type != corev1.NodeReady || got.Status != corev1.ConditionTrue {
		t.Errorf("node condition = %v %v, want Ready True", got.Type, got.Status)
	}

	stop()
	if _, err := cs.CoreV1().Nodes().Get(t.Context(), "fake-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node after Run returned: err = %v, want NotFound", err)
	}
}

func TestFakeNode_Run_FinishesGracefulDeletion(t *testing.T) {
	t.Parallel()
	deleting := newPod("deleting", "fake-2")
	deleting.Status.Phase = corev1.PodRunning
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	cs := fake.NewClientset(deleting)
	stop := startFakeNode(t, cs, FakeNodeConfig{NodeName: "fake-2", Namespace: "ns"})
	defer stop()

	pollUntil(t, 10*time.Second, func() bool {
		_, err := getPod(t, cs, "deleting")
		return apierrors.IsNotFound(err)
	})
	var sawGraceZero bool
	for _, a := range cs.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetResource().Resource == "pods" {
			g := d.GetDeleteOptions().GracePeriodSeconds
			sawGraceZero = g != nil && *g == 0
		}
	}
	if !sawGraceZero {
		t.Error("pod was not deleted with gracePeriodSeconds=0")
	}
}

func TestFakeNode_Run_HoldsPodsForRunDuration(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset(newPod("slow", ""))
	withBinding(cs)
	stop := startFakeNode(t, cs, FakeNodeConfig{NodeName: "fake-3", Namespace: "ns", RunDuration: 300 * time.Millisecond})
	defer stop()

	pollUntil(t, 10*time.Second, func() bool {
		p, err := getPod(t, cs, "slow")
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	pollUntil(t, 10*time.Second, func() bool {
		p, err := getPod(t, cs, "slow")
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
}

func TestNewFakeNode_Validation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg     FakeNodeConfig
		wantErr bool
	}{
		"a client is required":          {cfg: FakeNodeConfig{}, wantErr: true},
		"negative workers are rejected": {cfg: FakeNodeConfig{Client: fake.NewClientset(), Workers: -1}, wantErr: true},
		"defaults are filled":           {cfg: FakeNodeConfig{Client: fake.NewClientset()}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n, err := NewFakeNode(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if err == nil && (n.Name() == "" || n.cfg.Workers != DefaultFakeNodeWorkers) {
				t.Errorf("defaults not filled: name %q workers %d", n.Name(), n.cfg.Workers)
			}
		})
	}
}
