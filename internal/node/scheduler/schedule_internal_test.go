package scheduler

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// TestApply_SkipsPodDeletedAfterTheBatchWasDecided: a pod of a batch that
// is deleted before its turn to bind is not bound (upstream skips pods
// being deleted); the control pod, unchanged, is.
func TestApply_SkipsPodDeletedAfterTheBatchWasDecided(t *testing.T) {
	client := fake.NewClientset()
	s, err := New(Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	defer s.queue.ShutDown()
	store := s.factory.Core().V1().Pods().Informer().GetStore()
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
			Spec:       corev1.PodSpec{SchedulerName: DefaultSchedulerName},
		}
	}
	decided := map[string]*corev1.Pod{"deleted": pod("deleted"), "kept": pod("kept")}
	deleting := decided["deleted"].DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	for _, p := range []*corev1.Pod{deleting, decided["kept"]} {
		if err := store.Add(p); err != nil {
			t.Fatal(err)
		}
	}

	for _, name := range []string{"deleted", "kept"} {
		p := decided[name]
		s.assumed[p.UID] = assumedPod{node: "n1", pod: p}
		s.apply(context.Background(), decision{key: cache.MetaObjectToName(p), pod: p, node: "n1"})
	}

	var bound []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetSubresource() == "binding" {
			bound = append(bound, a.(k8stesting.CreateAction).GetObject().(*corev1.Binding).Name)
		}
	}
	if len(bound) != 1 || bound[0] != "kept" {
		t.Fatalf("bound %v, want only [kept]", bound)
	}
	if _, ok := s.assumed[decided["deleted"].UID]; ok {
		t.Error("the skipped pod is still assumed on the node")
	}
}
