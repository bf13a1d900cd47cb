package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// defaultBackoffLimit applies when the server did not default backoffLimit.
const defaultBackoffLimit = 6

// syncState is what one sync of one Job knows and decides.
type syncState struct {
	key  cache.ObjectName
	job  *batchv1.Job // private copy; replaced by each status write's result
	pods []*corev1.Pod
	// active pods are neither terminal nor being deleted.
	active      []*corev1.Pod
	ready       int32
	terminating int32
	// succeeded and failed include pods not yet counted in status.
	succeeded, failed int32

	prevSucceededIdx intervals
	succeededIdx     intervals
	failedIdx        *intervals // nil unless backoffLimitPerIndex is set

	backoff    backoffRecord
	expectedRm sets.Set[types.UID]
	uncountedS sets.Set[types.UID]
	uncountedF sets.Set[types.UID]
	// delayed holds, per index, the failed pod kept until it is replaced.
	delayed map[int]*corev1.Pod
	// finished is the condition the Job is heading to: SuccessCriteriaMet or
	// FailureTarget (or Failed once FailureTarget is recorded).
	finished *batchv1.JobCondition
}

// finalizerPending reports a pod whose outcome is not yet counted: it has the
// tracking finalizer and we are not already removing it.
func (st *syncState) finalizerPending(p *corev1.Pod) bool {
	return hasTrackingFinalizer(p) && !st.expectedRm.Has(p.UID)
}

// sync reconciles one Job: pods, then status. Errors requeue the Job.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	logger := c.logger.With("job", key.String())
	shared, err := c.jobLister.Jobs(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.forgetJob(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting job: %w", err)
	}
	shared = c.written.fresher(key, shared)
	if managedByOther(shared) {
		logger.Debug("skipping job managed by another controller", "managedBy", *shared.Spec.ManagedBy)
		return nil
	}
	if isFinished(shared) {
		c.backoff.remove(key)
		return nil
	}
	if m := shared.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.recorder.Event(shared, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if isIndexed(shared) && shared.Spec.Completions == nil {
		logger.Debug("skipping indexed job without completions")
		return nil
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read expectations before the pods: a pod arriving in between only
	// delays the sync, it is never missed. The same holds for finalizer
	// removals: the informer stores a pod before its handler marks the
	// removal observed, so a pod is either listed without its finalizer or
	// still expected, never counted twice.
	satisfied := c.expectations.satisfied(key)
	expectedRm := c.finalizerExpect.expected(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	st := c.newSyncState(key, job, pods, expectedRm)
	c.decideFinish(logger, st)
	return c.reconcile(ctx, logger, st, satisfied)
}

func (c *Controller) forgetJob(key cache.ObjectName) {
	c.expectations.forget(key)
	c.finalizerExpect.forget(key)
	c.backoff.remove(key)
	c.written.forget(key)
}

func (c *Controller) newSyncState(key cache.ObjectName, job *batchv1.Job, pods []*corev1.Pod, expectedRm sets.Set[types.UID]) *syncState {
	unc := job.Status.UncountedTerminatedPods
	st := &syncState{
		key:         key,
		job:         job,
		pods:        pods,
		active:      filterPods(pods, isPodActive),
		terminating: countTerminating(pods),
		expectedRm:  expectedRm,
		uncountedS:  sets.New(unc.Succeeded...),
		uncountedF:  sets.New(unc.Failed...),
	}
	st.ready = countReady(st.active)
	newSucceeded, newFailed := st.newFinishedPods()
	st.succeeded = job.Status.Succeeded + int32(len(newSucceeded)+len(unc.Succeeded))
	st.failed = job.Status.Failed + countedFailures(job, newFailed) + int32(len(unc.Failed))
	if job.Status.StartTime == nil && !isSuspended(job) {
		now := metav1.NewTime(c.clock.Now())
		job.Status.StartTime = &now
	}
	st.backoff = c.backoff.next(key, newSucceeded, newFailed)
	return st
}

// newFinishedPods returns the succeeded and failed pods not counted yet.
func (st *syncState) newFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, p := range st.pods {
		if !st.finalizerPending(p) || (isIndexed(st.job) && !validIndex(st.job, completionIndex(p))) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !st.uncountedS.Has(p.UID):
			succeeded = append(succeeded, p)
		case isPodFailed(p, st.job) && !st.uncountedF.Has(p.UID):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// countedFailures is the number of failed pods an Ignore rule does not
// exempt.
func countedFailures(job *batchv1.Job, failed []*corev1.Pod) int32 {
	n := int32(0)
	for _, p := range failed {
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
			n++
		}
	}
	return n
}

func isSuspended(job *batchv1.Job) bool {
	return job.Spec.Suspend != nil && *job.Spec.Suspend
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type:               t,
		Status:             corev1.ConditionTrue,
		LastProbeTime:      metav1.NewTime(now),
		LastTransitionTime: metav1.NewTime(now),
		Reason:             reason,
		Message:            message,
	}
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

func trueCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	if c := findCondition(job.Status.Conditions, t); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

// decideFinish sets st.finished from, in order: an earlier SuccessCriteriaMet
// or FailureTarget, a FailJob rule, the backoff limit, the active deadline,
// per-index limits and the success policy.
func (c *Controller) decideFinish(logger *slog.Logger, st *syncState) {
	job, now := st.job, c.clock.Now()
	if scm := trueCondition(job, batchv1.JobSuccessCriteriaMet); scm != nil {
		st.finished = scm.DeepCopy()
	} else if ft := trueCondition(job, batchv1.JobFailureTarget); ft != nil {
		st.finished = newCondition(batchv1.JobFailed, ft.Reason, ft.Message, now)
	} else if msg := failJobMessage(job, st.pods); msg != nil {
		st.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, *msg, now)
	} else if st.failed > ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit) || pastBackoffLimitOnFailure(job, st.pods) {
		st.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
	} else if c.pastActiveDeadline(job) {
		st.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
	} else if job.Spec.ActiveDeadlineSeconds != nil && !isSuspended(job) {
		left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(job.Status.StartTime.Time)
		logger.Debug("job has an active deadline; will sync again", "in", left)
		c.queue.AddAfter(st.key, left)
	}
	if !isIndexed(job) {
		return
	}
	st.prevSucceededIdx, st.succeededIdx = succeededIndexes(logger, job, st.pods)
	st.succeeded = int32(st.succeededIdx.total())
	if hasBackoffLimitPerIndex(job) {
		st.failedIdx = failedIndexes(logger, job, st.pods)
		failedN := st.failedIdx.total()
		if st.finished == nil && job.Spec.MaxFailedIndexes != nil && failedN > int(*job.Spec.MaxFailedIndexes) {
			st.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes", now)
		} else if st.finished == nil && failedN > 0 && failedN+st.succeededIdx.total() >= completions(job) {
			st.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, "Job has failed indexes", now)
		}
		st.delayed = podsWithDelayedDeletion(logger, st)
	}
	if st.finished == nil {
		if msg, ok := matchSuccessPolicy(logger, job.Spec.SuccessPolicy, completions(job), st.succeededIdx); ok {
			st.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, msg, now)
		}
	}
}

// pastBackoffLimitOnFailure compares the container restarts of running or
// pending pods with backoffLimit, for restartPolicy OnFailure.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

func (c *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}
