package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestServer_Protobuf_CreateGetDeleteJob(t *testing.T) {
	// API only: with the Job controller running, its first status write
	// could land between the create and the get, and the resourceVersions
	// would rightly differ.
	ts := startAPI(t, testserver.Options{})
	ctx := context.Background()
	jobs := ts.Client.BatchV1().Jobs("default")
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		}}},
	}
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if *created.Spec.BackoffLimit != 6 {
		t.Errorf("backoffLimit = %d, want 6", *created.Spec.BackoffLimit)
	}
	got, err := jobs.Get(ctx, "pi", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.ResourceVersion != created.ResourceVersion {
		t.Errorf("resourceVersion %s != %s", got.ResourceVersion, created.ResourceVersion)
	}
	bg := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, "pi", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := jobs.Get(ctx, "pi", metav1.GetOptions{}); err == nil {
		t.Fatal("job still exists after background delete")
	}
}
