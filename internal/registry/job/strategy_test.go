package job

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

func generatedLabels(jobName string) map[string]string {
	return map[string]string{
		"controller-uid":                     string(testUID),
		"batch.kubernetes.io/controller-uid": string(testUID),
		"job-name":                           jobName,
		"batch.kubernetes.io/job-name":       jobName,
	}
}

func withLabels(base map[string]string, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

type createdShape struct {
	Labels         map[string]string
	TemplateLabels map[string]string
	Selector       *metav1.LabelSelector
	Generation     int64
	Status         batchv1.JobStatus
	Scheduling     *batchv1.JobSchedulingConfiguration
}

func TestStrategy_PrepareForCreate_Scenarios(t *testing.T) {
	t.Parallel()
	uidSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(testUID)}}
	tests := map[string]struct {
		name   string
		mutate func(*batchv1.Job)
		want   createdShape
	}{
		"a Job without labels gets the four generated labels on template and metadata": {
			name: "pi",
			mutate: func(j *batchv1.Job) {
				j.Status.Active = 3
				j.Generation = 7
				j.Spec.Scheduling = &batchv1.JobSchedulingConfiguration{}
			},
			want: createdShape{Labels: generatedLabels("pi"), TemplateLabels: generatedLabels("pi"), Selector: uidSelector, Generation: 1},
		},
		"user template labels are kept and shared with metadata as upstream": {
			name:   "pi",
			mutate: func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"app": "x"} },
			want: createdShape{
				Labels:         withLabels(generatedLabels("pi"), map[string]string{"app": "x"}),
				TemplateLabels: withLabels(generatedLabels("pi"), map[string]string{"app": "x"}),
				Selector:       uidSelector, Generation: 1,
			},
		},
		"Job labels stay exactly as given": {
			name:   "pi",
			mutate: func(j *batchv1.Job) { j.Labels = map[string]string{"app": "x"} },
			want:   createdShape{Labels: map[string]string{"app": "x"}, TemplateLabels: generatedLabels("pi"), Selector: uidSelector, Generation: 1},
		},
		"a manual selector generates nothing": {
			name: "pi",
			mutate: func(j *batchv1.Job) {
				j.Spec.ManualSelector = ptr.To(true)
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
				j.Spec.Template.Labels = map[string]string{"a": "b"}
			},
			want: createdShape{
				Labels: map[string]string{"a": "b"}, TemplateLabels: map[string]string{"a": "b"},
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Generation: 1,
			},
		},
		"a user selector gets the uid key merged in": {
			name: "pi",
			mutate: func(j *batchv1.Job) {
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			},
			want: createdShape{
				Labels: generatedLabels("pi"), TemplateLabels: generatedLabels("pi"), Generation: 1,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b", "batch.kubernetes.io/controller-uid": string(testUID)}},
			},
		},
		"a name too long for a label value is not copied to metadata.labels": {
			name: name(64),
			want: createdShape{TemplateLabels: generatedLabels(name(64)), Selector: uidSelector, Generation: 1},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			job := newJob(tc.name, tc.mutate)
			got := createdShape{
				Labels: job.Labels, TemplateLabels: job.Spec.Template.Labels, Selector: job.Spec.Selector,
				Generation: job.Generation, Status: job.Status, Scheduling: job.Spec.Scheduling,
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("prepared job (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForUpdate_Scenarios(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate         func(*batchv1.Job)
		wantGeneration int64
		wantStatus     batchv1.JobStatus
	}{
		"parallelism bumps generation":    {mutate: func(j *batchv1.Job) { j.Spec.Parallelism = int32p(2) }, wantGeneration: 2},
		"backoffLimit bumps generation":   {mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = int32p(1) }, wantGeneration: 2},
		"suspend bumps generation":        {mutate: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }, wantGeneration: 2},
		"ttl bumps generation":            {mutate: func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = int32p(5) }, wantGeneration: 2},
		"manualSelector bumps generation": {mutate: func(j *batchv1.Job) { j.Spec.ManualSelector = ptr.To(true) }, wantGeneration: 2},
		"a client-set generation is ignored": {
			mutate:         func(j *batchv1.Job) { j.Generation = 9 },
			wantGeneration: 1,
		},
		"a label change keeps generation": {
			mutate:         func(j *batchv1.Job) { j.Labels = map[string]string{"x": "y"} },
			wantGeneration: 1,
		},
		"a status change through the main resource is ignored": {
			mutate:         func(j *batchv1.Job) { j.Status.Succeeded = 5 },
			wantGeneration: 1,
		},
		"spec.scheduling cannot be added": {
			mutate:         func(j *batchv1.Job) { j.Spec.Scheduling = &batchv1.JobSchedulingConfiguration{} },
			wantGeneration: 1,
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			old := stored(newJob("u1", nil))
			job := old.DeepCopy()
			tc.mutate(job)
			Strategy.PrepareForUpdate(context.Background(), job, old)
			if job.Generation != tc.wantGeneration {
				t.Errorf("generation = %d, want %d", job.Generation, tc.wantGeneration)
			}
			if diff := cmp.Diff(tc.wantStatus, job.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if errs := Strategy.ValidateUpdate(context.Background(), job, old); len(jobErrors(job, errs)) != 0 {
				t.Errorf("ValidateUpdate = %v, want no errors", jobErrors(job, errs))
			}
		})
	}
}

func TestStrategy_Policies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if got := Strategy.DefaultGarbageCollectionPolicy(ctx); got != generic.OrphanDependents {
		t.Errorf("DefaultGarbageCollectionPolicy = %q, want OrphanDependents", got)
	}
	if !Strategy.NamespaceScoped() || Strategy.AllowCreateOnUpdate() || !Strategy.AllowUnconditionalUpdate() {
		t.Errorf("scope/create-on-update/unconditional = %v/%v/%v, want true/false/true",
			Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate())
	}
}

func TestStrategy_WarningsOnCreate_Scenarios(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name   string
		mutate func(*batchv1.Job)
		want   []string
	}{
		"a DNS label name has no warning": {name: "pi"},
		"a dotted name warns about hostnames": {
			name: "a.b",
			want: []string{"metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]"},
		},
		"a huge Indexed Job warns about completedIndexes": {
			name: "big",
			mutate: func(j *batchv1.Job) {
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Spec.Completions = int32p(100_001)
				j.Spec.Parallelism = int32p(10_001)
			},
			want: []string{"spec: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail"},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			job := newJob(tc.name, tc.mutate)
			got := filterJobWarnings(Strategy.WarningsOnCreate(context.Background(), job))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// filterJobWarnings keeps the warnings this package produces.
func filterJobWarnings(ws []string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, "metadata.name:") || strings.HasPrefix(w, "spec:") {
			out = append(out, w)
		}
	}
	return out
}
