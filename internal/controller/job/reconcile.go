package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	reasonCompletionsReached  = batchv1.JobReasonCompletionsReached
	messageCompletionsReached = "Reached expected number of succeeded pods"
)

// reconcile creates or deletes pods as the Job needs, updates the suspend
// condition, then tracks finished pods and writes status.
func (c *Controller) reconcile(ctx context.Context, logger *slog.Logger, st *syncState, satisfied bool) error {
	job := st.job
	startTimeBefore := job.Status.StartTime
	active := int32(len(st.active))
	suspendChanged := false
	var manageErr error
	if st.finished != nil {
		deletedReady, deleted, err := c.deleteActivePods(ctx, st.job, st.active)
		if deleted != active || !satisfied {
			// Pods may still be terminating or not in the cache yet.
			st.finished = nil
		}
		active -= deleted
		st.terminating += deleted
		st.ready -= deletedReady
		manageErr = err
	} else {
		manageCalled := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, logger, st)
			manageCalled = true
		}
		if jobComplete(job, st.succeeded, active) {
			st.finished = newCondition(batchv1.JobSuccessCriteriaMet, reasonCompletionsReached, messageCompletionsReached, c.clock.Now())
		} else if manageCalled {
			suspendChanged = c.updateSuspendCondition(st)
		}
	}
	terminating := st.terminating
	needsUpdate := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(&st.ready, job.Status.Ready) || !ptr.Equal(job.Status.Terminating, &terminating) ||
		startTimeBefore != job.Status.StartTime
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(terminating)
	if err := c.trackStatus(ctx, logger, st, needsUpdate); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// jobComplete: with completions, enough successes and no active pods;
// without, any success and no active pods.
func jobComplete(job *batchv1.Job, succeeded, active int32) bool {
	if job.Spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= *job.Spec.Completions && active == 0
}

// updateSuspendCondition keeps the Suspended condition, its events and
// startTime in step with spec.suspend; it reports a status change.
func (c *Controller) updateSuspendCondition(st *syncState) bool {
	job, now := st.job, c.clock.Now()
	if isSuspended(job) {
		changed := ensureCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
		if changed {
			c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
		if job.Status.StartTime != nil {
			// Cleared so the scheduling directives of a suspended Job may
			// change; a resume starts the deadline afresh.
			job.Status.StartTime = nil
			changed = true
		}
		return changed
	}
	if !ensureCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
		return false
	}
	c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
	// activeDeadlineSeconds counts time continuously active.
	t := metav1.NewTime(now)
	job.Status.StartTime = &t
	return true
}

// ensureCondition sets a condition of type t to the given status, reason and
// message; it never adds a False condition that was absent. It reports a
// change.
func ensureCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	if cond := findCondition(job.Status.Conditions, t); cond != nil {
		if cond.Status == status && cond.Reason == reason && cond.Message == message {
			return false
		}
		*cond = *newCondition(t, reason, message, now)
		cond.Status = status
		return true
	}
	if status == corev1.ConditionFalse {
		return false
	}
	nc := newCondition(t, reason, message, now)
	nc.Status = status
	job.Status.Conditions = append(job.Status.Conditions, *nc)
	return true
}
