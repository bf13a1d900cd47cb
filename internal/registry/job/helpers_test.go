package job

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/pod"
)

const testUID = types.UID("0b3a5a1c-1111-2222-3333-444455556666")

// baseJob is the checklist's "base job": one container, restartPolicy Never.
func baseJob(name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
}

// created runs what the server runs on POST before validation: defaulting
// of the decoded body, uid assignment, PrepareForCreate.
func created(job *batchv1.Job) *batchv1.Job {
	SetDefaults(job)
	job.UID = testUID
	Strategy.PrepareForCreate(context.Background(), job)
	return job
}

// newJob builds a base job, lets mutate change the request body, then
// prepares it for create.
func newJob(name string, mutate func(*batchv1.Job)) *batchv1.Job {
	job := baseJob(name)
	if mutate != nil {
		mutate(job)
	}
	return created(job)
}

// jobErrors renders the errors the job package itself is responsible for:
// what the pod package reports about the template is removed, so these
// tests hold whatever the pod package validates.
func jobErrors(job *batchv1.Job, errs field.ErrorList) []string {
	var out []string
	for _, e := range filterPodErrors(job, errs) {
		out = append(out, e.Error())
	}
	return out
}

// filterPodErrors removes from errs what pod.ValidatePodTemplateSpec reports
// for the Job's template; each pod error accounts for one occurrence.
func filterPodErrors(job *batchv1.Job, errs field.ErrorList) field.ErrorList {
	podErrs := pod.ValidatePodTemplateSpec(&job.Spec.Template, field.NewPath("spec", "template"))
	var out field.ErrorList
	for _, e := range errs {
		if i := indexOfError(podErrs, e); i >= 0 {
			podErrs = append(podErrs[:i:i], podErrs[i+1:]...)
			continue
		}
		out = append(out, e)
	}
	return out
}

// fieldDetails renders errors as "field: type: detail", without values (for
// immutability errors whose value is a whole struct).
func fieldDetails(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		s := e.Field + ": " + string(e.Type)
		if e.Detail != "" {
			s += ": " + e.Detail
		}
		out = append(out, s)
	}
	return out
}

func name(n int) string { return strings.Repeat("a", n) }

func int32p(v int32) *int32 { return ptr.To(v) }

// stored is what a read from storage returns: a resourceVersion and the
// creation timestamp are set.
func stored(job *batchv1.Job) *batchv1.Job {
	job.ResourceVersion = "5"
	job.CreationTimestamp = metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return job
}

func indexOfError(errs field.ErrorList, want *field.Error) int {
	for i, e := range errs {
		if containsError(field.ErrorList{e}, want) {
			return i
		}
	}
	return -1
}

func containsError(errs field.ErrorList, want *field.Error) bool {
	for _, e := range errs {
		if e.Type == want.Type && e.Field == want.Field && e.Detail == want.Detail && fmt.Sprint(e.BadValue) == fmt.Sprint(want.BadValue) {
			return true
		}
	}
	return false
}
