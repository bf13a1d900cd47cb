package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

// trackStatus counts finished pods with the tracking finalizer:
//  1. their UIDs go to status.uncountedTerminatedPods (indexes to
//     completedIndexes), with any interim condition, in one status write;
//  2. their finalizers are removed;
//  3. the counters absorb the pods whose finalizer is gone;
//  4. Complete or Failed is added once nothing is uncounted or terminating.
//
// At most maxUncountedPods pods are handled per sync so status stays small
// and big Jobs do not starve others.
func (c *Controller) trackStatus(ctx context.Context, logger *slog.Logger, st *syncState, needsFlush bool) error {
	job := st.job
	if isIndexed(job) {
		sortByIndex(st.pods)
	}
	withFinalizer := sets.New[types.UID]()
	for _, p := range st.pods {
		if st.finalizerPending(p) {
			withFinalizer.Insert(p.UID)
		}
	}
	if absorbUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	toRemove, newIdx, reachedMax, changed := c.collectFinishedPods(logger, st)
	needsFlush = needsFlush || changed
	if isIndexed(job) && c.updateIndexes(st, newIdx) {
		needsFlush = true
	}
	if c.recordInterimCondition(st) {
		needsFlush = true
	}
	needsFlush, err := c.flushAndRemoveFinalizers(ctx, st, toRemove, withFinalizer, needsFlush)
	if err != nil {
		return err
	}
	finished := !reachedMax && c.enactFinished(logger, st)
	if !needsFlush && !finished {
		return nil
	}
	if err := c.updateStatus(ctx, st); err != nil {
		return fmt.Errorf("removing uncounted pods from status: %w", err)
	}
	if finished {
		c.recordFinished(st.job, st.finished)
	}
	return nil
}

// collectFinishedPods picks the pods whose finalizer can go and records the
// newly finished ones as uncounted (or, for Indexed Jobs, as new succeeded
// indexes). It reports whether status changed.
func (c *Controller) collectFinishedPods(logger *slog.Logger, st *syncState) (toRemove []*corev1.Pod, newIdx []int, reachedMax, changed bool) {
	job := st.job
	unc := job.Status.UncountedTerminatedPods
	failing := st.finished != nil && st.finished.Type != batchv1.JobSuccessCriteriaMet
	for _, p := range st.pods {
		if !st.finalizerPending(p) {
			continue
		}
		failed := isPodFailed(p, job)
		if !c.canRemoveFinalizer(logger, st, p, failed) {
			continue
		}
		toRemove = append(toRemove, p)
		ix := completionIndex(p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !st.uncountedF.Has(p.UID):
			if isIndexed(job) {
				if validIndex(job, ix) && !st.prevSucceededIdx.has(ix) {
					newIdx = append(newIdx, ix)
					changed = true
				}
			} else if !st.uncountedS.Has(p.UID) {
				unc.Succeeded = append(unc.Succeeded, p.UID)
				changed = true
			}
		case failed || failing:
			// Once the Job fails, every pod not terminated counts as failed.
			if !st.uncountedF.Has(p.UID) && (!isIndexed(job) || validIndex(job, ix)) &&
				matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
				unc.Failed = append(unc.Failed, p.UID)
				changed = true
			}
		}
		if len(newIdx)+len(unc.Succeeded)+len(unc.Failed) >= maxUncountedPods {
			// The status and pod updates will requeue the Job for the rest.
			return toRemove, newIdx, true, changed
		}
	}
	return toRemove, newIdx, false, changed
}

// canRemoveFinalizer: always when the Job is being deleted or finishing, or
// the pod succeeded; for failed pods unless the pod is kept until its index
// is replaced (backoffLimitPerIndex).
func (c *Controller) canRemoveFinalizer(logger *slog.Logger, st *syncState, p *corev1.Pod, failed bool) bool {
	if st.job.DeletionTimestamp != nil || st.finished != nil || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(st.job) {
		if ix := completionIndex(p); ix != unknownIndex {
			if kept, ok := st.delayed[ix]; ok && kept.UID == p.UID {
				logger.Debug("keeping failed pod until its index is replaced", "pod", p.Name)
				return false
			}
		}
	}
	return true
}

// updateIndexes writes completedIndexes, succeeded and failedIndexes; it
// reports a change.
func (c *Controller) updateIndexes(st *syncState, newIdx []int) bool {
	job := st.job
	st.succeededIdx = st.succeededIdx.withIndexes(newIdx)
	completed := st.succeededIdx.String()
	changed := completed != job.Status.CompletedIndexes
	job.Status.Succeeded = int32(st.succeededIdx.total())
	job.Status.CompletedIndexes = completed
	var failedStr *string
	if st.failedIdx != nil {
		failedStr = ptr.To(st.failedIdx.String())
	}
	if !ptr.Equal(job.Status.FailedIndexes, failedStr) {
		job.Status.FailedIndexes = failedStr
		changed = true
	}
	return changed
}

// recordInterimCondition appends FailureTarget or SuccessCriteriaMet before
// any finalizer goes, and turns st.finished into the terminal condition to
// add later. It reports a change.
func (c *Controller) recordInterimCondition(st *syncState) bool {
	f, job := st.finished, st.job
	if f == nil {
		return false
	}
	switch {
	case f.Type == batchv1.JobFailureTarget:
		job.Status.Conditions = append(job.Status.Conditions, *f)
		st.finished = newCondition(batchv1.JobFailed, f.Reason, f.Message, c.clock.Now())
		return true
	case f.Type == batchv1.JobSuccessCriteriaMet && f.Status == corev1.ConditionTrue:
		changed := false
		if trueCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *f)
			changed = true
		}
		st.finished = newCondition(batchv1.JobComplete, f.Reason, f.Message, c.clock.Now())
		return changed
	}
	return false
}

// flushAndRemoveFinalizers writes status if needed, removes the finalizers
// and absorbs the pods freed into the counters. It returns whether status
// still has unwritten changes.
func (c *Controller) flushAndRemoveFinalizers(ctx context.Context, st *syncState, toRemove []*corev1.Pod, withFinalizer sets.Set[types.UID], needsFlush bool) (bool, error) {
	if needsFlush {
		if err := c.updateStatus(ctx, st); err != nil {
			return true, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		c.backoff.set(st.key, st.backoff)
		needsFlush = false
	}
	var rmErr error
	if len(toRemove) > 0 {
		var removed []bool
		removed, rmErr = c.removeFinalizers(ctx, st, toRemove)
		for i, p := range toRemove {
			if removed[i] {
				withFinalizer.Delete(p.UID)
			}
		}
	}
	if absorbUncounted(&st.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		// Save the partial progress before retrying.
		if err := c.updateStatus(ctx, st); err != nil {
			return true, fmt.Errorf("removing uncounted pods from status: %w", err)
		}
		needsFlush = false
	}
	return needsFlush, rmErr
}

// absorbUncounted moves uncounted UIDs whose pods no longer have the
// finalizer into the succeeded/failed counters; it reports a change.
func absorbUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[types.UID]) bool {
	unc := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, u := range uids {
			if withFinalizer.Has(u) {
				out = append(out, u)
			}
		}
		return out
	}
	changed := false
	if rest := keep(unc.Succeeded); len(rest) != len(unc.Succeeded) {
		status.Succeeded += int32(len(unc.Succeeded) - len(rest))
		unc.Succeeded = rest
		changed = true
	}
	if rest := keep(unc.Failed); len(rest) != len(unc.Failed) {
		status.Failed += int32(len(unc.Failed) - len(rest))
		unc.Failed = rest
		changed = true
	}
	return changed
}

// removeFinalizers removes the tracking finalizer from pods in parallel; the
// i-th result is true when pod i no longer has it (or is gone).
func (c *Controller) removeFinalizers(ctx context.Context, st *syncState, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizerExpect.expectRemoved(st.key, uids)
	removed := make([]bool, len(pods))
	errs := make([]error, len(pods))
	c.parallel(len(pods), func(i int) {
		err := c.removeFinalizer(ctx, pods[i])
		if err != nil {
			// No update will show this removal.
			c.finalizerExpect.removalObserved(st.key, pods[i].UID)
			if !apierrors.IsNotFound(err) {
				errs[i] = err
				return
			}
		}
		removed[i] = true
	})
	return removed, utilerrors.NewAggregate(errs)
}

// enactFinished adds Complete or Failed once no pod is uncounted or
// terminating; it reports whether the Job finished.
func (c *Controller) enactFinished(logger *slog.Logger, st *syncState) bool {
	f := st.finished
	if f == nil {
		return false
	}
	if unc := st.job.Status.UncountedTerminatedPods; len(unc.Succeeded)+len(unc.Failed) > 0 {
		logger.Debug("delaying job finish: uncounted pods remain", "condition", f.Type)
		return false
	}
	if st.terminating > 0 {
		logger.Debug("delaying job finish: pods still terminating", "condition", f.Type, "terminating", st.terminating)
		return false
	}
	ensureCondition(st.job, f.Type, f.Status, f.Reason, f.Message, c.clock.Now())
	if f.Type == batchv1.JobComplete {
		t := f.LastTransitionTime
		st.job.Status.CompletionTime = &t
	}
	return true
}

// recordFinished emits the events of a finished Job.
func (c *Controller) recordFinished(job *batchv1.Job, f *batchv1.JobCondition) {
	if f.Type != batchv1.JobComplete {
		c.recorder.Event(job, corev1.EventTypeWarning, f.Reason, f.Message)
		return
	}
	if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
		c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
	}
	c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
}

// errJobGone marks a status write that found the Job deleted: retrying is
// pointless, and the informer's delete event forgets the Job.
var errJobGone = errors.New("job was deleted")

// updateStatus writes st.job through jobs/status and continues with the
// server's answer.
func (c *Controller) updateStatus(ctx context.Context, st *syncState) error {
	base := st.job.ResourceVersion
	updated, err := c.client.BatchV1().Jobs(st.job.Namespace).UpdateStatus(ctx, st.job, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) {
			c.written.forget(st.key)
		}
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %w", errJobGone, err)
		}
		return err
	}
	if updated.Status.UncountedTerminatedPods == nil {
		updated.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	c.written.record(st.key, base, updated.DeepCopy())
	st.job = updated
	return nil
}
