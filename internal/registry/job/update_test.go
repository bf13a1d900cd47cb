package job

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func suspendedJob(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }

func TestStrategy_ValidateUpdate_Scenarios(t *testing.T) {
	t.Parallel()
	const labelsMismatch = "spec.template.metadata.labels: FieldValueInvalid: `selector` does not match template `labels`"
	tests := map[string]struct {
		create func(*batchv1.Job) // the stored Job's create body
		stored func(*batchv1.Job) // changes the server made since (deletion)
		status func(*batchv1.JobStatus)
		update func(*batchv1.Job)
		want   []string
	}{
		"78: completions of a NonIndexed Job": {
			update: func(j *batchv1.Job) { j.Spec.Completions = int32p(3) },
			want:   []string{"spec.completions: FieldValueInvalid: field is immutable"},
		},
		"78: completionMode": {
			update: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) },
			want:   []string{"spec.completionMode: FieldValueInvalid: field is immutable"},
		},
		"78: managedBy": {
			update: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("example.com/x") },
			want:   []string{"spec.managedBy: FieldValueInvalid: field is immutable"},
		},
		"78: the template image": {
			update: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "busybox:2" },
			want:   []string{"spec.template: FieldValueInvalid: field is immutable"},
		},
		"78: the selector, with the labels mismatch from both spec passes": {
			update: func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" },
			want: []string{
				"spec.selector: FieldValueInvalid: `selector` not auto-generated",
				labelsMismatch,
				labelsMismatch,
				"spec.selector: FieldValueInvalid: field is immutable",
			},
		},
		"podFailurePolicy": {
			update: func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = failJobOnExit(1)
				j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			},
			want: []string{"spec.podFailurePolicy: FieldValueInvalid: field is immutable"},
		},
		"backoffLimitPerIndex and successPolicy of an Indexed Job": {
			create: indexed(4),
			update: func(j *batchv1.Job) {
				j.Spec.BackoffLimitPerIndex = int32p(2)
				j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: int32p(1)}}}
			},
			want: []string{
				"spec.backoffLimitPerIndex: FieldValueInvalid: field is immutable",
				"spec.successPolicy: FieldValueInvalid: field is immutable",
			},
		},
		"Indexed completions alone": {
			create: indexed(4),
			update: func(j *batchv1.Job) { j.Spec.Completions = int32p(6) },
			want:   []string{"spec.completions: FieldValueInvalid: can only be modified in tandem with spec.parallelism"},
		},
		"Indexed completions in tandem with parallelism": {
			create: indexed(4),
			update: func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = int32p(6), int32p(6) },
		},
		"79: mutable fields": {
			update: func(j *batchv1.Job) {
				j.Spec.Parallelism = int32p(4)
				j.Spec.BackoffLimit = int32p(1)
				j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
				j.Spec.TTLSecondsAfterFinished = int32p(10)
				j.Spec.Suspend = ptr.To(true)
				j.Spec.ManualSelector = ptr.To(true)
				j.Labels = map[string]string{"l": "v"}
				j.Annotations = map[string]string{"a": "v"}
			},
		},
		"42: a new finalizer while the Job is being deleted": {
			create: func(j *batchv1.Job) { j.Finalizers = []string{"example.com/hold"} },
			stored: func(j *batchv1.Job) {
				now := metav1.Now()
				j.DeletionTimestamp = &now
				j.DeletionGracePeriodSeconds = ptr.To[int64](0)
			},
			update: func(j *batchv1.Job) { j.Finalizers = append(j.Finalizers, "example.com/new") },
			want:   []string{`metadata.finalizers: FieldValueForbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/new"}`},
		},
		"the name, which the generated labels no longer match": {
			update: func(j *batchv1.Job) { j.Name = "other" },
			want: []string{
				"spec.template.metadata.labels[job-name]: FieldValueInvalid: must be 'other'",
				"spec.template.metadata.labels[batch.kubernetes.io/job-name]: FieldValueInvalid: must be 'other'",
				"metadata.name: FieldValueInvalid: field is immutable",
			},
		},
		"a suspended, never started Job may change scheduling directives and resources": {
			create: suspendedJob,
			update: func(j *batchv1.Job) {
				spec := &j.Spec.Template.Spec
				spec.NodeSelector = map[string]string{"zone": "a"}
				spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
				spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
				spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
				spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
				j.Spec.Template.Annotations = map[string]string{"a": "b"}
			},
		},
		"a suspended Job still cannot change the image": {
			create: suspendedJob,
			update: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "other" },
			want:   []string{"spec.template: FieldValueInvalid: field is immutable"},
		},
		"a suspended Job that started and still has pods cannot change directives": {
			create: suspendedJob,
			status: func(s *batchv1.JobStatus) {
				now := metav1.Now()
				s.StartTime = &now
				s.Active = 1
			},
			update: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
			want:   []string{"spec.template: FieldValueInvalid: field is immutable"},
		},
		"a suspended Job with the Suspended condition and no pods may change directives": {
			create: suspendedJob,
			status: func(s *batchv1.JobStatus) {
				now := metav1.Now()
				s.StartTime = &now
				s.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}
			},
			update: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			old := stored(newJob("u2", tc.create))
			if tc.stored != nil {
				tc.stored(old)
			}
			if tc.status != nil {
				tc.status(&old.Status)
			}
			job := old.DeepCopy()
			tc.update(job)
			Strategy.PrepareForUpdate(context.Background(), job, old)
			errs := Strategy.ValidateUpdate(context.Background(), job, old)
			got := fieldDetails(filterPodErrors(job, errs))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
