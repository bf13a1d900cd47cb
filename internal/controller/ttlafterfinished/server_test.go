package ttlafterfinished_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-sh/skiff/internal/controller/ttlafterfinished"
	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestServer_DeletesFinishedJobAfterTTL(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	c := ts.Client
	factory := informers.NewSharedInformerFactory(c, 0)
	ctrl, err := ttlafterfinished.NewController(ttlafterfinished.Config{Client: c, Informers: factory})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 1) }()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	bg := context.Background()
	ttl := int32(1)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "done"}, Spec: batchv1.JobSpec{
		TTLSecondsAfterFinished: &ttl,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	job, err = c.BatchV1().Jobs("default").Create(bg, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating job: %v", err)
	}
	now := metav1.Now()
	job.Status.StartTime = &now
	job.Status.CompletionTime = &now
	job.Status.Succeeded = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods"},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods"},
	}
	if _, err := c.BatchV1().Jobs("default").UpdateStatus(bg, job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("completing job: %v", err)
	}
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		j, err := c.BatchV1().Jobs("default").Get(bg, "done", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		// No garbage collector runs here: the Job stays with the
		// foregroundDeletion finalizer the TTL controller's delete asked for.
		if j.DeletionTimestamp == nil {
			return false, nil
		}
		if !slices.Contains(j.Finalizers, metav1.FinalizerDeleteDependents) {
			return false, fmt.Errorf("job deleted with finalizers %v, want %s", j.Finalizers, metav1.FinalizerDeleteDependents)
		}
		return true, nil
	})
}
