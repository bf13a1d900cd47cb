package job

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var statusPath = field.NewPath("status")

// validateJobStatusUpdate is upstream's ValidateJobStatusUpdate.
func validateJobStatusUpdate(job, oldJob *batchv1.Job, opts statusOptions) field.ErrorList {
	errs := validateJobStatus(job, opts)
	condPath := statusPath.Child("conditions")
	if opts.rejectDisablingTerminalCondition {
		for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
			if isConditionTrue(oldJob.Status.Conditions, t) && !isConditionTrue(job.Status.Conditions, t) {
				errs = append(errs, field.Invalid(condPath, field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
			}
		}
	}
	s, o := &job.Status, &oldJob.Status
	if opts.rejectDecreasingFailedCounter && s.Failed < o.Failed {
		errs = append(errs, field.Invalid(statusPath.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	if opts.rejectDecreasingSucceededCounter && s.Succeeded < o.Succeeded {
		errs = append(errs, field.Invalid(statusPath.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	if opts.rejectMutatingCompletionTime && s.CompletionTime != nil && o.CompletionTime != nil && !timesEqual(s.CompletionTime, o.CompletionTime) {
		errs = append(errs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "completionTime cannot be mutated"))
	}
	// A Job being resumed (its stored status still Suspended=True) gets a
	// new startTime from the controller.
	resuming := isConditionTrue(o.Conditions, batchv1.JobSuspended)
	if opts.rejectStartTimeUpdateForUnsuspendedJob && o.StartTime != nil && !timesEqual(o.StartTime, s.StartTime) &&
		!ptr.Deref(job.Spec.Suspend, false) && !resuming {
		errs = append(errs, field.Required(statusPath.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	newMet := isConditionTrue(s.Conditions, batchv1.JobSuccessCriteriaMet)
	oldMet := isConditionTrue(o.Conditions, batchv1.JobSuccessCriteriaMet)
	if oldMet && !newMet {
		errs = append(errs, field.Invalid(condPath, field.OmitValueType{}, "cannot disable the SuccessCriteriaMet=True condition"))
	}
	if isConditionTrue(o.Conditions, batchv1.JobComplete) && !oldMet && newMet {
		errs = append(errs, field.Invalid(condPath, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"))
	}
	return errs
}

// validateJobStatus is upstream's validateJobStatus: non-negative counters,
// well-formed uncountedTerminatedPods, then the optional consistency rules.
func validateJobStatus(job *batchv1.Job, opts statusOptions) field.ErrorList {
	s := &job.Status
	errs := apimachineryvalidation.ValidateNonnegativeField(int64(s.Active), statusPath.Child("active"))
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.Succeeded), statusPath.Child("succeeded"))...)
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.Failed), statusPath.Child("failed"))...)
	errs = append(errs, nonNegative(s.Ready, statusPath.Child("ready"))...)
	errs = append(errs, nonNegative(s.Terminating, statusPath.Child("terminating"))...)
	errs = append(errs, validateUncounted(s.UncountedTerminatedPods)...)
	errs = append(errs, validateStatusConditions(job, opts)...)
	errs = append(errs, validateStatusTimes(job, opts)...)
	errs = append(errs, validateStatusIndexes(job, opts)...)
	return append(errs, validateStatusCounts(job, opts)...)
}

func validateUncounted(u *batchv1.UncountedTerminatedPods) field.ErrorList {
	if u == nil {
		return nil
	}
	var errs field.ErrorList
	path := statusPath.Child("uncountedTerminatedPods")
	seen := map[types.UID]bool{}
	check := func(list []types.UID, p *field.Path) {
		for i, uid := range list {
			switch {
			case uid == "":
				errs = append(errs, field.Invalid(p.Index(i), uid, "must not be empty"))
			case seen[uid]:
				errs = append(errs, field.Duplicate(p.Index(i), uid))
			default:
				seen[uid] = true
			}
		}
	}
	check(u.Succeeded, path.Child("succeeded"))
	check(u.Failed, path.Child("failed"))
	return errs
}

// validateStatusConditions checks that the terminal and interim conditions
// form a consistent set.
func validateStatusConditions(job *batchv1.Job, opts statusOptions) field.ErrorList {
	var errs field.ErrorList
	conds := job.Status.Conditions
	path := statusPath.Child("conditions")
	complete := isConditionTrue(conds, batchv1.JobComplete)
	failed := isConditionTrue(conds, batchv1.JobFailed)
	failureTarget := isConditionTrue(conds, batchv1.JobFailureTarget)
	met := isConditionTrue(conds, batchv1.JobSuccessCriteriaMet)
	invalid := func(msg string) { errs = append(errs, field.Invalid(path, field.OmitValueType{}, msg)) }
	if opts.rejectCompleteJobWithFailedCondition && complete && failed {
		invalid("cannot set Complete=True and Failed=true conditions")
	}
	if opts.rejectCompleteJobWithFailureTargetCondition && complete && failureTarget {
		invalid("cannot set Complete=True and FailureTarget=true conditions")
	}
	// Upstream gates the next two on options its strategy never sets.
	if met && failed {
		invalid("cannot set SuccessCriteriaMet=True and Failed=true conditions")
	}
	if met && failureTarget {
		invalid("cannot set SuccessCriteriaMet=True and FailureTarget=true conditions")
	}
	if job.Spec.SuccessPolicy != nil && !met && complete {
		invalid("cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True")
	}
	return errs
}

// validateStatusTimes checks startTime and completionTime against the
// conditions.
func validateStatusTimes(job *batchv1.Job, opts statusOptions) field.ErrorList {
	var errs field.ErrorList
	s := &job.Status
	complete := isConditionTrue(s.Conditions, batchv1.JobComplete)
	if opts.rejectNotCompleteJobWithCompletionTime && s.CompletionTime != nil && !complete {
		errs = append(errs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if opts.rejectCompleteJobWithoutCompletionTime && s.CompletionTime == nil && complete {
		errs = append(errs, field.Required(statusPath.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if opts.rejectCompletionTimeBeforeStartTime && s.StartTime != nil && s.CompletionTime != nil && s.CompletionTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "completionTime cannot be set before startTime"))
	}
	// A suspended Job never starts, yet finishes with zero completions.
	suspended := ptr.Deref(job.Spec.Suspend, false)
	if opts.rejectFinishedJobWithoutStartTime && s.StartTime == nil && isJobFinished(job) && !suspended {
		errs = append(errs, field.Required(statusPath.Child("startTime"), "startTime is required for finished job"))
	}
	return errs
}

// validateStatusIndexes checks completedIndexes and failedIndexes.
func validateStatusIndexes(job *batchv1.Job, opts statusOptions) field.ErrorList {
	var errs field.ErrorList
	s := &job.Status
	completions := job.Spec.Completions
	if opts.rejectInvalidCompletedIndexes && completions != nil {
		if _, err := parseIndexes(s.CompletedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(statusPath.Child("completedIndexes"), s.CompletedIndexes, fmt.Sprintf("error parsing completedIndexes: %s", err)))
		}
	}
	if opts.rejectInvalidFailedIndexes && completions != nil && job.Spec.BackoffLimitPerIndex != nil && s.FailedIndexes != nil {
		if _, err := parseIndexes(*s.FailedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(statusPath.Child("failedIndexes"), s.FailedIndexes, fmt.Sprintf("error parsing failedIndexes: %s", err)))
		}
	}
	isIndexed := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	if opts.rejectCompletedIndexesForNonIndexedJob && s.CompletedIndexes != "" && !isIndexed {
		errs = append(errs, field.Invalid(statusPath.Child("completedIndexes"), s.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if opts.rejectFailedIndexesForNoBackoffLimitPerIndex && job.Spec.BackoffLimitPerIndex == nil && s.FailedIndexes != nil {
		errs = append(errs, field.Invalid(statusPath.Child("failedIndexes"), *s.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if opts.rejectFailedIndexesOverlappingCompleted && completions != nil && s.FailedIndexes != nil {
		if idx, overlap := indexesOverlap(s.CompletedIndexes, *s.FailedIndexes, *completions); overlap {
			errs = append(errs, field.Invalid(statusPath.Child("failedIndexes"), *s.FailedIndexes, fmt.Sprintf("failedIndexes and completedIndexes overlap at index: %d", idx)))
		}
	}
	return errs
}

// validateStatusCounts checks active, terminating and ready against the
// Job's state.
func validateStatusCounts(job *batchv1.Job, opts statusOptions) field.ErrorList {
	var errs field.ErrorList
	s := &job.Status
	finished := isJobFinished(job)
	if opts.rejectFinishedJobWithActivePods && s.Active > 0 && finished {
		errs = append(errs, field.Invalid(statusPath.Child("active"), s.Active, "active>0 is invalid for finished job"))
	}
	if opts.rejectFinishedJobWithUncountedTerminatedPods && finished && s.UncountedTerminatedPods != nil &&
		len(s.UncountedTerminatedPods.Failed)+len(s.UncountedTerminatedPods.Succeeded) > 0 {
		errs = append(errs, field.Invalid(statusPath.Child("uncountedTerminatedPods"), s.UncountedTerminatedPods, "uncountedTerminatedPods needs to be empty for finished job"))
	}
	if opts.rejectFinishedJobWithTerminatingPods && ptr.Deref(s.Terminating, 0) > 0 && finished {
		errs = append(errs, field.Invalid(statusPath.Child("terminating"), s.Terminating, "terminating>0 is invalid for finished job"))
	}
	if opts.rejectMoreReadyThanActivePods && s.Ready != nil && *s.Ready > s.Active {
		errs = append(errs, field.Invalid(statusPath.Child("ready"), *s.Ready, "cannot set more ready pods than active"))
	}
	return errs
}

// indexesOverlap reports the first index present in both interval lists.
// Intervals that do not parse are skipped; the format rules report them.
func indexesOverlap(completed, failed string, completions int32) (int32, bool) {
	if completed == "" || failed == "" {
		return 0, false
	}
	type interval struct{ x, y int32 }
	parse := func(s string) []interval {
		var out []interval
		for _, part := range strings.Split(s, ",") {
			if x, y, err := parseIndexInterval(part, completions); err == nil {
				out = append(out, interval{x, y})
			}
		}
		return out
	}
	cs, fs := parse(completed), parse(failed)
	for i, j := 0, 0; i < len(cs) && j < len(fs); {
		c, f := cs[i], fs[j]
		if c.x <= f.y && f.x <= c.y {
			return max(c.x, f.x), true
		}
		if c.x <= f.x {
			i++
		} else {
			j++
		}
	}
	return 0, false
}
