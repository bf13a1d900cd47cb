package job

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var (
	t0 = metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = metav1.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC)
)

func cond(t batchv1.JobConditionType) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
}

func TestStatusStrategy_PrepareForUpdate_KeepsTheSpec(t *testing.T) {
	t.Parallel()
	old := stored(newJob("s1", nil))
	job := old.DeepCopy()
	job.Spec.Parallelism = int32p(9)
	job.Labels = map[string]string{"x": "y"}
	job.Annotations = map[string]string{"patchedstatus": "true"}
	job.Finalizers = []string{"example.com/f"}
	job.Status.Active = 1
	StatusStrategy.PrepareForUpdate(context.Background(), job, old)
	want := old.DeepCopy()
	want.Status.Active = 1
	want.Labels, want.Annotations, want.Finalizers = job.Labels, job.Annotations, job.Finalizers // as upstream: metadata goes through
	if diff := cmp.Diff(want, job); diff != "" {
		t.Errorf("prepared job (-want +got):\n%s", diff)
	}
}

func TestStatusStrategy_ValidateUpdate_Scenarios(t *testing.T) {
	t.Parallel()
	running := func(s *batchv1.JobStatus) {
		s.StartTime = &t0
		s.Active = 1
		s.Ready = int32p(0)
		s.Terminating = int32p(0)
		s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	tests := map[string]struct {
		create func(*batchv1.Job)
		before func(*batchv1.JobStatus)
		after  func(*batchv1.JobStatus)
		want   []string
	}{
		"the controller starts the Job": {after: running},
		"the controller counts a finished pod": {
			before: running,
			after: func(s *batchv1.JobStatus) {
				s.Active = 0
				s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"p1"}}
			},
		},
		"the controller marks success criteria then completion": {
			before: func(s *batchv1.JobStatus) { running(s); s.Active = 0; s.Succeeded = 1 },
			after: func(s *batchv1.JobStatus) {
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
				s.CompletionTime = &t1
			},
		},
		"the controller fails the Job": {
			before: func(s *batchv1.JobStatus) {
				running(s)
				s.Active = 0
				s.Failed = 7
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget)}
			},
			after: func(s *batchv1.JobStatus) { s.Conditions = append(s.Conditions, cond(batchv1.JobFailed)) },
		},
		"an Indexed Job records completed and failed indexes": {
			create: func(j *batchv1.Job) { indexed(4)(j); j.Spec.BackoffLimitPerIndex = int32p(1) },
			before: running,
			after: func(s *batchv1.JobStatus) {
				s.CompletedIndexes = "0,2-3"
				s.FailedIndexes = ptr.To("1")
				s.Succeeded = 3
			},
		},
		"a suspended Job with zero completions completes without starting": {
			create: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true); j.Spec.Completions = int32p(0) },
			after: func(s *batchv1.JobStatus) {
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
				s.CompletionTime = &t1
			},
		},
		"the controller resumes a Job that had started": {
			create: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(false) },
			before: func(s *batchv1.JobStatus) {
				s.StartTime = &t0
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuspended)}
			},
			after: func(s *batchv1.JobStatus) {
				s.StartTime = &t1
				s.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse}}
			},
		},
		"removing startTime of a running Job": {
			before: running,
			after:  func(s *batchv1.JobStatus) { s.StartTime = nil },
			want:   []string{"status.startTime: Required value: startTime cannot be removed for unsuspended job"},
		},
		"negative counters": {
			after: func(s *batchv1.JobStatus) { s.Active = -1; s.Ready = int32p(-1) },
			want: []string{
				"status.active: Invalid value: -1: must be greater than or equal to 0",
				"status.ready: Invalid value: -1: must be greater than or equal to 0",
			},
		},
		"empty and duplicate uncounted uids": {
			after: func(s *batchv1.JobStatus) {
				s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a", ""}, Failed: []types.UID{"a"}}
			},
			want: []string{
				`status.uncountedTerminatedPods.succeeded[1]: Invalid value: "": must not be empty`,
				`status.uncountedTerminatedPods.failed[0]: Duplicate value: "a"`,
			},
		},
		"decreasing counters": {
			before: func(s *batchv1.JobStatus) { s.Failed, s.Succeeded = 2, 2 },
			after:  func(s *batchv1.JobStatus) { s.Failed, s.Succeeded = 1, 1 },
			want: []string{
				"status.failed: Invalid value: 1: cannot decrease the failed counter",
				"status.succeeded: Invalid value: 1: cannot decrease the succeeded counter",
			},
		},
		"Complete without completionTime and startTime": {
			after: func(s *batchv1.JobStatus) {
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
			},
			want: []string{
				"status.completionTime: Required value: completionTime is required for Complete jobs",
				"status.startTime: Required value: startTime is required for finished job",
			},
		},
		"disabling a terminal condition": {
			before: func(s *batchv1.JobStatus) {
				running(s)
				s.Active = 0
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}
			},
			after: func(s *batchv1.JobStatus) { s.Conditions = nil },
			want: []string{
				"status.conditions: Invalid value: cannot disable the terminal Failed=True condition",
				"status.conditions: Invalid value: cannot disable the terminal FailureTarget=True condition",
			},
		},
		"a finished Job with active pods": {
			before: running,
			after: func(s *batchv1.JobStatus) {
				s.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}
			},
			want: []string{"status.active: Invalid value: 1: active>0 is invalid for finished job"},
		},
		"completedIndexes on a NonIndexed Job": {
			after: func(s *batchv1.JobStatus) { s.CompletedIndexes = "0" },
			want:  []string{`status.completedIndexes: Invalid value: "0": cannot set non-empty completedIndexes when non-indexed completion mode`},
		},
		"malformed and overlapping indexes": {
			create: func(j *batchv1.Job) { indexed(4)(j); j.Spec.BackoffLimitPerIndex = int32p(1) },
			after:  func(s *batchv1.JobStatus) { s.CompletedIndexes = "0-1"; s.FailedIndexes = ptr.To("1,9") },
			want: []string{
				`status.failedIndexes: Invalid value: "1,9": error parsing failedIndexes: too large index: "9"`,
				`status.failedIndexes: Invalid value: "1,9": failedIndexes and completedIndexes overlap at index: 1`,
			},
		},
		"more ready than active": {
			after: func(s *batchv1.JobStatus) { s.Ready = int32p(1) },
			want:  []string{"status.ready: Invalid value: 1: cannot set more ready pods than active"},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			old := stored(newJob("s1", tc.create))
			if tc.before != nil {
				tc.before(&old.Status)
			}
			job := old.DeepCopy()
			tc.after(&job.Status)
			StatusStrategy.PrepareForUpdate(context.Background(), job, old)
			var got []string
			for _, e := range StatusStrategy.ValidateUpdate(context.Background(), job, old) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
