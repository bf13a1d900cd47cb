package job

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/registry/validation"
)

// jobStatusStrategy implements PUT/PATCH on jobs/<name>/status.
type jobStatusStrategy struct {
	jobStrategy
}

// StatusStrategy is the update strategy of the jobs/status subresource.
var StatusStrategy = jobStatusStrategy{Strategy}

var (
	_ generic.UpdateStrategy      = jobStatusStrategy{}
	_ generic.ResetFieldsStrategy = jobStatusStrategy{}
)

// ResetFields lists what /status ignores.
func (jobStatusStrategy) ResetFields() []string {
	return []string{"spec"}
}

// PrepareForUpdate is upstream's: keep the stored spec. Metadata changes go
// through, as upstream's "should apply changes to a job status" conformance
// spec requires (it patches an annotation through /status); identity fields
// are left for the metadata update rules to reject, and resourceVersion for
// the store's precondition check.
func (jobStatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	job, ok1 := obj.(*batchv1.Job)
	oldJob, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return
	}
	job.Spec = oldJob.Spec
	job.Generation = oldJob.Generation
}

// ValidateUpdate is upstream's ValidateJobUpdateStatus with the status
// transition rules the JobManagedBy feature (GA) turns on.
func (jobStatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	job, ok1 := obj.(*batchv1.Job)
	oldJob, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return notAJob(obj)
	}
	errs := validation.ValidateObjectMetaUpdate(&job.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateJobStatusUpdate(job, oldJob, statusOptionsFor(job, oldJob))...)
}

// WarningsOnUpdate has nothing to say about status updates.
func (jobStatusStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// statusOptions are upstream's JobStatusValidationOptions.
type statusOptions struct {
	rejectDecreasingSucceededCounter             bool
	rejectDecreasingFailedCounter                bool
	rejectDisablingTerminalCondition             bool
	rejectInvalidCompletedIndexes                bool
	rejectInvalidFailedIndexes                   bool
	rejectFailedIndexesOverlappingCompleted      bool
	rejectCompletedIndexesForNonIndexedJob       bool
	rejectFailedIndexesForNoBackoffLimitPerIndex bool
	rejectFinishedJobWithActivePods              bool
	rejectFinishedJobWithoutStartTime            bool
	rejectFinishedJobWithUncountedTerminatedPods bool
	rejectStartTimeUpdateForUnsuspendedJob       bool
	rejectCompletionTimeBeforeStartTime          bool
	rejectMutatingCompletionTime                 bool
	rejectCompleteJobWithoutCompletionTime       bool
	rejectNotCompleteJobWithCompletionTime       bool
	rejectCompleteJobWithFailedCondition         bool
	rejectCompleteJobWithFailureTargetCondition  bool
	rejectFinishedJobWithTerminatingPods         bool
	rejectMoreReadyThanActivePods                bool
}

// statusOptionsFor turns on each transition rule only when the fields it
// looks at change, so that an unrelated status write to a Job that already
// breaks a rule (for example right after a scale-down) still goes through.
func statusOptionsFor(job, oldJob *batchv1.Job) statusOptions {
	s, o := &job.Status, &oldJob.Status
	isIndexed := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	finishedChanged := isJobFinished(job) != isJobFinished(oldJob)
	completeChanged := isConditionTrue(s.Conditions, batchv1.JobComplete) != isConditionTrue(o.Conditions, batchv1.JobComplete)
	failedChanged := isConditionTrue(s.Conditions, batchv1.JobFailed) != isConditionTrue(o.Conditions, batchv1.JobFailed)
	failureTargetChanged := isConditionTrue(s.Conditions, batchv1.JobFailureTarget) != isConditionTrue(o.Conditions, batchv1.JobFailureTarget)
	completedIndexesChanged := s.CompletedIndexes != o.CompletedIndexes
	failedIndexesChanged := !ptr.Equal(s.FailedIndexes, o.FailedIndexes)
	activeChanged := s.Active != o.Active
	startTimeChanged := !timesEqual(s.StartTime, o.StartTime)
	completionTimeChanged := !timesEqual(s.CompletionTime, o.CompletionTime)
	uncountedChanged := !apiequality.Semantic.DeepEqual(s.UncountedTerminatedPods, o.UncountedTerminatedPods)
	return statusOptions{
		// Indexed Jobs with completions == parallelism may be scaled down.
		rejectDecreasingSucceededCounter:             !isIndexed || !ptr.Equal(job.Spec.Completions, job.Spec.Parallelism),
		rejectDecreasingFailedCounter:                true,
		rejectDisablingTerminalCondition:             true,
		rejectInvalidCompletedIndexes:                completedIndexesChanged,
		rejectInvalidFailedIndexes:                   failedIndexesChanged,
		rejectCompletedIndexesForNonIndexedJob:       completedIndexesChanged,
		rejectFailedIndexesForNoBackoffLimitPerIndex: failedIndexesChanged,
		rejectFailedIndexesOverlappingCompleted:      failedIndexesChanged || completedIndexesChanged,
		rejectFinishedJobWithActivePods:              finishedChanged || activeChanged,
		rejectFinishedJobWithoutStartTime:            finishedChanged || startTimeChanged,
		rejectFinishedJobWithUncountedTerminatedPods: finishedChanged || uncountedChanged,
		rejectStartTimeUpdateForUnsuspendedJob:       startTimeChanged,
		rejectCompletionTimeBeforeStartTime:          startTimeChanged || completionTimeChanged,
		rejectMutatingCompletionTime:                 true,
		rejectNotCompleteJobWithCompletionTime:       completeChanged || completionTimeChanged,
		rejectCompleteJobWithoutCompletionTime:       completeChanged || completionTimeChanged,
		rejectCompleteJobWithFailedCondition:         completeChanged || failedChanged,
		rejectCompleteJobWithFailureTargetCondition:  completeChanged || failureTargetChanged,
		rejectFinishedJobWithTerminatingPods:         finishedChanged || !ptr.Equal(s.Terminating, o.Terminating),
		rejectMoreReadyThanActivePods:                activeChanged || !ptr.Equal(s.Ready, o.Ready),
	}
}

// timesEqual compares optional timestamps (second precision, as stored).
func timesEqual(a, b *metav1.Time) bool {
	return a.Equal(b)
}

func isConditionTrue(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func isJobFinished(job *batchv1.Job) bool {
	return isConditionTrue(job.Status.Conditions, batchv1.JobComplete) || isConditionTrue(job.Status.Conditions, batchv1.JobFailed)
}
