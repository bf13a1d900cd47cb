package deletion

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Checklist 81: the pod the Job controller creates, and the Job's status.
func TestJobController_CreatePod_Shape(t *testing.T) {
	e := setup(t, "shape")
	job := e.createJob(pendingJob("j1"))
	pod := e.waitJobPods(job, 1)[0]

	if pod.GenerateName != "j1-" || !strings.HasPrefix(pod.Name, "j1-") || len(pod.Name) != len("j1-")+5 {
		t.Errorf("pod generateName %q name %q, want j1- plus 5 characters", pod.GenerateName, pod.Name)
	}
	uid := string(job.UID)
	wantLabels := map[string]string{
		"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j1",
		"controller-uid": uid, "job-name": "j1",
	}
	if diff := cmp.Diff(wantLabels, pod.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{trackingFinalizer}, pod.Finalizers); diff != "" {
		t.Errorf("pod finalizers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]metav1.OwnerReference{ownerRef("j1", job.UID, true, true)}, pod.OwnerReferences); diff != "" {
		t.Errorf("pod ownerReferences (-want +got):\n%s", diff)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod restartPolicy %q, want Never", pod.Spec.RestartPolicy)
	}

	got := e.waitJob("j1", "status.active 1 and startTime", func(j *batchv1.Job) bool {
		return j.Status.Active == 1 && j.Status.StartTime != nil
	})
	want := batchv1.JobStatus{
		Active: 1, Ready: ptr[int32](0), Terminating: ptr[int32](0),
		StartTime: got.Status.StartTime, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{},
	}
	if diff := cmp.Diff(want, got.Status); diff != "" {
		t.Errorf("job status (-want +got):\n%s", diff)
	}
}
