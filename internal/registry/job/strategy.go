package job

import (
	"context"
	"fmt"
	"maps"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// Labels the server puts on the pod template (and selects on) when the Job
// does not use a manual selector. The unprefixed pair is kept for
// compatibility, as upstream does.
const (
	LegacyJobNameLabel       = "job-name"
	LegacyControllerUIDLabel = "controller-uid"
)

// jobStrategy implements the create and update rules of batch/v1 Jobs
// (upstream pkg/registry/batch/job/strategy.go).
type jobStrategy struct{}

// Strategy is the create/update strategy of the jobs resource.
var Strategy = jobStrategy{}

var (
	_ generic.Strategy                        = jobStrategy{}
	_ generic.GarbageCollectionDeleteStrategy = jobStrategy{}
	_ generic.ResetFieldsStrategy             = jobStrategy{}
)

// NamespaceScoped reports true: Jobs live in namespaces.
func (jobStrategy) NamespaceScoped() bool { return true }

// DefaultGarbageCollectionPolicy is OrphanDependents: batch/v1 keeps the
// historical behaviour of leaving a deleted Job's pods behind.
func (jobStrategy) DefaultGarbageCollectionPolicy(context.Context) generic.GarbageCollectionPolicy {
	return generic.OrphanDependents
}

// ResetFields lists what the main resource ignores on update.
func (jobStrategy) ResetFields() []string { return []string{"status"} }

// AllowCreateOnUpdate is false: a Job is created with POST only.
func (jobStrategy) AllowCreateOnUpdate() bool { return false }

// AllowUnconditionalUpdate is true: a PUT without resourceVersion overwrites.
func (jobStrategy) AllowUnconditionalUpdate() bool { return true }

// PrepareForCreate clears status, sets generation 1, drops the alpha
// spec.scheduling field (its feature gate is off) and, unless
// spec.manualSelector is true, generates the selector and template labels from
// the uid and name. A Job without labels then gets the template labels.
func (jobStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	job.Status = batchv1.JobStatus{}
	job.Generation = 1
	job.Spec.Scheduling = nil
	if !ptr.Deref(job.Spec.ManualSelector, false) {
		generateSelector(job)
	}
	// Upstream copies the template labels on the next read from storage
	// (defaulting). A create whose template labels are invalid fails on
	// spec.template.labels before that read, so they are not copied here
	// either: metadata.labels would only repeat the same error.
	if len(job.Labels) == 0 && job.Spec.Template.Labels != nil &&
		len(metav1validation.ValidateLabels(job.Spec.Template.Labels, field.NewPath("labels"))) == 0 {
		job.Labels = maps.Clone(job.Spec.Template.Labels)
	}
}

// generateSelector adds the job-name and controller-uid labels (legacy and
// batch.kubernetes.io/ forms) to the template where the key is not set yet,
// and selects on batch.kubernetes.io/controller-uid. Conflicting values a
// client put there are left alone for validation to reject.
func generateSelector(job *batchv1.Job) {
	tmpl := &job.Spec.Template
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for _, kv := range [][2]string{
		{LegacyJobNameLabel, job.Name},
		{batchv1.JobNameLabel, job.Name},
		{LegacyControllerUIDLabel, string(job.UID)},
		{batchv1.ControllerUidLabel, string(job.UID)},
	} {
		if _, found := tmpl.Labels[kv[0]]; !found {
			tmpl.Labels[kv[0]] = kv[1]
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, found := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !found {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

// Validate returns the create errors: metadata, generated selector, spec and
// the Indexed pod hostname rule (upstream ValidateJob).
func (jobStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return notAJob(obj)
	}
	return validateJob(job, optionsForJob(job, nil))
}

// WarningsOnCreate warns about names that are not DNS labels (they end up
// in pod names and hostnames) and about spec settings upstream warns about.
func (jobStrategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(job.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	return append(warnings, warningsForJobSpec(field.NewPath("spec"), &job.Spec)...)
}

// PrepareForUpdate keeps the stored status (status changes go through
// /status), drops a newly set alpha spec.scheduling and keeps generation,
// bumping it when the spec changed.
func (jobStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	job, ok1 := obj.(*batchv1.Job)
	oldJob, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return
	}
	job.Status = oldJob.Status
	if oldJob.Spec.Scheduling == nil {
		job.Spec.Scheduling = nil
	}
	// Clients cannot set generation; only a spec change moves it.
	job.Generation = oldJob.Generation
	if specChanged(&job.Spec, &oldJob.Spec) {
		job.Generation = oldJob.Generation + 1
	}
}

// ValidateUpdate returns the update errors. As upstream, it is the create
// validation of the new object followed by the update rules (which validate
// the spec once more, so a spec error is listed twice; the Status message
// removes the duplicate).
func (jobStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	job, ok1 := obj.(*batchv1.Job)
	oldJob, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return notAJob(obj)
	}
	opts := optionsForJob(job, oldJob)
	errs := validateJob(job, opts)
	return append(errs, validateJobUpdate(job, oldJob, opts)...)
}

// WarningsOnUpdate repeats the spec warnings when the spec changed.
func (jobStrategy) WarningsOnUpdate(_ context.Context, obj, old runtime.Object) []string {
	job, ok1 := obj.(*batchv1.Job)
	oldJob, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 || job.Generation == oldJob.Generation {
		return nil
	}
	return warningsForJobSpec(field.NewPath("spec"), &job.Spec)
}

// Soft limits above which upstream warns about Indexed Jobs.
const (
	warnCompletionsSoftLimit = 100_000
	warnParallelismSoftLimit = 10_000
)

// warningsForJobSpec is upstream's WarningsForJobSpec without the pod
// template warnings (the pod package does not provide them).
func warningsForJobSpec(path *field.Path, spec *batchv1.JobSpec) []string {
	if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
		return nil
	}
	if ptr.Deref(spec.Completions, 0) > warnCompletionsSoftLimit && ptr.Deref(spec.Parallelism, 0) > warnParallelismSoftLimit {
		return []string{fmt.Sprintf("%s: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail", path)}
	}
	return nil
}

// notAJob is what a strategy returns when the store hands it another type:
// a programming error, reported as an internal field error, never a panic.
func notAJob(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(field.NewPath(""), fmt.Errorf("expected *batchv1.Job, got %T", obj))}
}
