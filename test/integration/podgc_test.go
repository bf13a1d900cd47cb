package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// The pod garbage collector of a whole server (node agent, fake runtime):
// beyond --terminated-pod-gc-threshold terminated pods, the oldest go; pods
// still running are neither counted nor touched.
func TestPodGC_TerminatedBeyondThreshold_OldestDeleted(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{Runtime: "fake", TerminatedPodGCThreshold: 3, PodGCPeriod: 100 * time.Millisecond})
	ctx := testCtx(t)
	pods := ts.Client.CoreV1().Pods("default")
	pod := func(name string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}}},
		}
	}
	if _, err := pods.Create(ctx, pod("running", map[string]string{crt.AnnotationFakeDuration: "1h"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Created in name order, so oldest first is name order too (upstream
	// breaks creation-time ties by name).
	for i := range 6 {
		if _, err := pods.Create(ctx, pod(fmt.Sprintf("done-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"done-3", "done-4", "done-5", "running"}
	var names []string
	testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		names = names[:0]
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return slices.Equal(names, want), nil
	})
	running, err := pods.Get(ctx, "running", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if running.Status.Phase != corev1.PodRunning || running.DeletionTimestamp != nil {
		t.Errorf("the running pod: phase %s, deletionTimestamp %v; want Running and not deleted", running.Status.Phase, running.DeletionTimestamp)
	}
	for _, name := range want[:3] {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("%s: phase %s, want Succeeded", name, p.Status.Phase)
		}
	}
}
