package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/utils/ptr"
)

// manageJob creates or deletes pods so the Job has the active pods it wants.
// It respects the pod failure back-off and returns the new active count.
// Creation and deletion never happen in the same sync; deletion wins.
func (c *Controller) manageJob(ctx context.Context, logger *slog.Logger, st *syncState) (int32, error) {
	job := st.job
	active := int32(len(st.active))
	if isSuspended(job) {
		logger.Debug("deleting all active pods of suspended job", "active", active)
		return c.removeExcessPods(ctx, st, activePodsForRemoval(job, st.active, len(st.active)))
	}
	want := wantActive(job, st.succeeded, active)
	if rm := activePodsForRemoval(job, st.active, int(max(active-want, 0))); len(rm) > 0 {
		if len(rm) > maxPodCreateDeletePerSync {
			rm = rm[:maxPodCreateDeletePerSync]
		}
		logger.Debug("too many pods running", "deleting", len(rm), "target", want)
		return c.removeExcessPods(ctx, st, rm)
	}
	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = st.terminating
	}
	diff := int(want - terminating - active)
	if diff <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		if wait := backoffDelay(c.clock, c.podBackoff, c.maxPodBackoff, st.backoff.failuresAfterLastSuccess, st.backoff.lastFailureTime); wait > 0 {
			c.enqueue(st.key, max(wait, c.batchPeriod))
			return active, nil
		}
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	var indexes []int
	if isIndexed(job) {
		indexes = firstPendingIndexes(st, diff)
		if hasBackoffLimitPerIndex(job) {
			var wait time.Duration
			if indexes, wait = c.indexesReadyToCreate(logger, indexes, st.delayed); wait > 0 {
				c.enqueue(st.key, max(wait, c.batchPeriod))
				return active, nil
			}
		}
		diff = len(indexes)
	}
	if diff == 0 {
		return active, nil
	}
	logger.Debug("too few pods running", "want", want, "creating", diff)
	created, err := c.createPods(ctx, st, diff, indexes)
	return active + created, err
}

// wantActive is the number of active pods the Job should have.
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	if job.Spec.Completions == nil {
		// A work queue: once a pod succeeded, no new pods start.
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(min(*job.Spec.Completions-succeeded, parallelism), 0)
}

// activePodsForRemoval picks at least rmAtLeast pods to delete: for Indexed
// Jobs first those with a missing, repeated or out-of-range index, then the
// cheapest to lose.
func activePodsForRemoval(job *batchv1.Job, pods []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		rm, left = duplicatedIndexPods(pods, completions(job))
	} else {
		left = append(left, pods...)
	}
	if len(rm) < rmAtLeast {
		sortActivePods(left)
		rm = append(rm, left[:rmAtLeast-len(rm)]...)
	}
	return rm
}

// indexesReadyToCreate keeps the indexes whose per-index back-off has
// passed; when none has, it returns the shortest remaining wait.
func (c *Controller) indexesReadyToCreate(logger *slog.Logger, indexes []int, delayed map[int]*corev1.Pod) ([]int, time.Duration) {
	var ready []int
	var shortest time.Duration
	for _, ix := range indexes {
		wait := time.Duration(0)
		if last := delayed[ix]; last != nil {
			t := finishedTime(last)
			wait = backoffDelay(c.clock, c.podBackoff, c.maxPodBackoff, absoluteFailureCount(logger, last)+1, &t)
		}
		if wait == 0 {
			ready = append(ready, ix)
		} else if shortest == 0 || wait < shortest {
			shortest = wait
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, shortest
}

// removeExcessPods frees and deletes pods the Job no longer wants; their
// finalizer goes first so they are not counted as failures.
func (c *Controller) removeExcessPods(ctx context.Context, st *syncState, pods []*corev1.Pod) (int32, error) {
	active := int32(len(st.active))
	c.expectations.expect(st.key, 0, len(pods))
	deletedReady, deleted, err := c.deletePods(ctx, st, pods, true)
	st.terminating += deleted
	st.ready -= deletedReady
	return active - deleted, err
}

// deleteActivePods deletes the active pods of a finishing Job, keeping their
// finalizers: they are counted as failed once they are gone.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	return c.deletePods(ctx, &syncState{key: keyOf(job), job: job}, pods, false)
}

// deletePods deletes pods in parallel, first removing their tracking
// finalizer when freeFirst. It returns the number of ready pods and of all
// pods deleted (a pod already gone counts as deleted).
func (c *Controller) deletePods(ctx context.Context, st *syncState, pods []*corev1.Pod, freeFirst bool) (int32, int32, error) {
	var deleted, deletedReady atomic.Int32
	errs := make([]error, len(pods))
	c.parallel(len(pods), func(i int) {
		pod := pods[i]
		if freeFirst && hasTrackingFinalizer(pod) {
			if err := c.removeFinalizer(ctx, pod); err != nil {
				c.expectations.deletionObserved(st.key)
				if !apierrors.IsNotFound(err) {
					errs[i] = err
					return
				}
				deleted.Add(1) // already gone
				return
			}
		}
		if err := c.deletePodWithEvent(ctx, st.job, pod); err != nil {
			if freeFirst {
				c.expectations.deletionObserved(st.key)
			}
			if !apierrors.IsNotFound(err) {
				errs[i] = err
				return
			}
		}
		deleted.Add(1)
		if isPodReady(pod) {
			deletedReady.Add(1)
		}
	})
	return deletedReady.Load(), deleted.Load(), utilerrors.NewAggregate(errs)
}

// deletePodWithEvent deletes one pod and records the upstream event.
func (c *Controller) deletePodWithEvent(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// parallel runs fn(0..n-1) with at most writeLimit calls in flight and
// returns when all are done.
func (c *Controller) parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.writeLimit)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
