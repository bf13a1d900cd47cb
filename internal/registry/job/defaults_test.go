package job

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// jobDefaults is the part of a Job SetDefaults owns (the pod template
// defaults belong to the pod package).
type jobDefaults struct {
	Labels               map[string]string
	Completions          *int32
	Parallelism          *int32
	BackoffLimit         *int32
	CompletionMode       *batchv1.CompletionMode
	Suspend              *bool
	ManualSelector       *bool
	PodReplacementPolicy *batchv1.PodReplacementPolicy
	PodFailurePolicy     *batchv1.PodFailurePolicy
}

func defaultsOf(job *batchv1.Job) jobDefaults {
	s := job.Spec
	return jobDefaults{
		Labels: job.Labels, Completions: s.Completions, Parallelism: s.Parallelism,
		BackoffLimit: s.BackoffLimit, CompletionMode: s.CompletionMode, Suspend: s.Suspend,
		ManualSelector: s.ManualSelector, PodReplacementPolicy: s.PodReplacementPolicy,
		PodFailurePolicy: s.PodFailurePolicy,
	}
}

func baseDefaults() jobDefaults {
	return jobDefaults{
		Completions: int32p(1), Parallelism: int32p(1), BackoffLimit: int32p(6),
		CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
		ManualSelector: ptr.To(false), PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
	}
}

func TestSetDefaults_Job_Scenarios(t *testing.T) {
	t.Parallel()
	pfp := func() *batchv1.PodFailurePolicy {
		return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
		}}}
	}
	tests := map[string]struct {
		mutate func(*batchv1.Job)
		want   func(*jobDefaults)
	}{
		"an empty spec gets completions and parallelism 1 and the other defaults": {},
		"only parallelism leaves completions unset": {
			mutate: func(j *batchv1.Job) { j.Spec.Parallelism = int32p(3) },
			want:   func(d *jobDefaults) { d.Completions, d.Parallelism = nil, int32p(3) },
		},
		"only completions defaults parallelism to 1": {
			mutate: func(j *batchv1.Job) { j.Spec.Completions = int32p(5) },
			want:   func(d *jobDefaults) { d.Completions = int32p(5) },
		},
		"backoffLimitPerIndex makes backoffLimit MaxInt32": {
			mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = int32p(1) },
			want:   func(d *jobDefaults) { d.BackoffLimit = int32p(math.MaxInt32) },
		},
		"a podFailurePolicy makes podReplacementPolicy Failed and pattern status True": {
			mutate: func(j *batchv1.Job) { j.Spec.PodFailurePolicy = pfp() },
			want: func(d *jobDefaults) {
				d.PodReplacementPolicy = ptr.To(batchv1.Failed)
				d.PodFailurePolicy = pfp()
				d.PodFailurePolicy.Rules[0].OnPodConditions[0].Status = corev1.ConditionTrue
			},
		},
		"set values are kept": {
			mutate: func(j *batchv1.Job) {
				j.Spec.BackoffLimit = int32p(0)
				j.Spec.Suspend = ptr.To(true)
				j.Spec.ManualSelector = ptr.To(true)
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			},
			want: func(d *jobDefaults) {
				d.BackoffLimit = int32p(0)
				d.Suspend = ptr.To(true)
				d.ManualSelector = ptr.To(true)
				d.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				d.PodReplacementPolicy = ptr.To(batchv1.Failed)
			},
		},
		"a Job without labels gets the template labels": {
			mutate: func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"app": "x"} },
			want:   func(d *jobDefaults) { d.Labels = map[string]string{"app": "x"} },
		},
		"a Job with labels keeps them": {
			mutate: func(j *batchv1.Job) {
				j.Labels = map[string]string{"app": "x"}
				j.Spec.Template.Labels = map[string]string{"tier": "y"}
			},
			want: func(d *jobDefaults) { d.Labels = map[string]string{"app": "x"} },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := baseJob("pi")
			if tc.mutate != nil {
				tc.mutate(job)
			}
			SetDefaults(job)
			want := baseDefaults()
			if tc.want != nil {
				tc.want(&want)
			}
			if diff := cmp.Diff(want, defaultsOf(job)); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
			again := job.DeepCopy()
			SetDefaults(again)
			if diff := cmp.Diff(job, again); diff != "" {
				t.Errorf("SetDefaults is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

// TestSetDefaults_Job_PodTemplate checks the template defaults checklist
// item 76 names; they come from the pod package.
func TestSetDefaults_Job_PodTemplate(t *testing.T) {
	t.Parallel()
	job := baseJob("pi")
	job.Spec.Template.Spec.RestartPolicy = ""
	SetDefaults(job)
	spec := job.Spec.Template.Spec
	type podDefaults struct {
		RestartPolicy                 corev1.RestartPolicy
		TerminationGracePeriodSeconds *int64
		DNSPolicy                     corev1.DNSPolicy
		SchedulerName                 string
	}
	want := podDefaults{corev1.RestartPolicyAlways, ptr.To[int64](30), corev1.DNSClusterFirst, corev1.DefaultSchedulerName}
	got := podDefaults{spec.RestartPolicy, spec.TerminationGracePeriodSeconds, spec.DNSPolicy, spec.SchedulerName}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("template defaults (-want +got):\n%s", diff)
	}
}
