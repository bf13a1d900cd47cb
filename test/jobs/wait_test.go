package jobs

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// The e2ejob helpers (test/e2e/framework/job/{rest,wait}.go), with the
// framework's error handling: the spec fails on the first error.

func (f *framework) createJob(job *batchv1.Job) *batchv1.Job {
	f.t.Helper()
	got, err := f.cs.BatchV1().Jobs(f.ns).Create(f.ctx, job, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("failed to create job in namespace: %s: %v", f.ns, err)
	}
	return got
}

func (f *framework) getJob(name string) *batchv1.Job {
	f.t.Helper()
	got, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("failed to retrieve job %s: %v", name, err)
	}
	return got
}

func (f *framework) updateJob(job *batchv1.Job) (*batchv1.Job, error) {
	return f.cs.BatchV1().Jobs(f.ns).Update(f.ctx, job, metav1.UpdateOptions{})
}

// getJobPods lists the pods labelled job=<name>, as e2ejob.GetJobPods.
func (f *framework) getJobPods(name string) (*corev1.PodList, error) {
	sel := labels.SelectorFromSet(labels.Set{jobSelectorKey: name}).String()
	return f.cs.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{LabelSelector: sel})
}

func (f *framework) mustJobPods(name string) []corev1.Pod {
	f.t.Helper()
	pods, err := f.getJobPods(name)
	if err != nil {
		f.t.Fatalf("failed to get pod list for job %s in namespace %s: %v", name, f.ns, err)
	}
	return pods.Items
}

// getAllRunningJobPods is e2ejob.GetAllRunningJobPods.
func (f *framework) getAllRunningJobPods(name string) []corev1.Pod {
	f.t.Helper()
	var out []corev1.Pod
	for _, p := range f.mustJobPods(name) {
		if p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// waitForJobPodsInPhase waits for exactly count pods of the Job in phase.
func (f *framework) waitForJobPodsInPhase(name string, count int32, phase corev1.PodPhase) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, fmt.Sprintf("job %s: %d pods %s", name, count, phase), func() (bool, error) {
		pods, err := f.getJobPods(name)
		if err != nil {
			return false, err
		}
		n := int32(0)
		for _, p := range pods.Items {
			if p.Status.Phase == phase {
				n++
			}
		}
		return n == count, nil
	})
}

// waitForJobComplete waits for status.succeeded == completions (failing at
// once if the Job fails), then for Complete=True with reason.
func (f *framework) waitForJobComplete(name, reason string, completions int32) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, fmt.Sprintf("job %s: %d successful pods", name, completions), func() (bool, error) {
		job, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if conditionTrue(job, batchv1.JobFailed) {
			return false, fmt.Errorf("job failed while waiting for its completion: %s", describeJob(job))
		}
		return job.Status.Succeeded == completions, nil
	})
	f.waitForJobCondition(name, batchv1.JobComplete, &reason)
}

// waitForJobFailed waits for Failed=True, failing at once on Complete=True.
func (f *framework) waitForJobFailed(name string) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, "job "+name+" to fail", func() (bool, error) {
		job, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if conditionTrue(job, batchv1.JobComplete) {
			return false, fmt.Errorf("job completed while waiting for its failure: %s", describeJob(job))
		}
		return conditionTrue(job, batchv1.JobFailed), nil
	})
}

// waitForJobCondition waits for cType=True with reason (nil: any reason).
func (f *framework) waitForJobCondition(name string, cType batchv1.JobConditionType, reason *string) {
	f.t.Helper()
	f.waitForJobState(name, func(job *batchv1.Job) string {
		for _, c := range job.Status.Conditions {
			if c.Type == cType && c.Status == corev1.ConditionTrue && (reason == nil || *reason == c.Reason) {
				return ""
			}
		}
		return fmt.Sprintf("expected job %q to reach the expected condition %q with reason %q", name, cType, ptr.Deref(reason, "<nil>"))
	})
}

// waitForJobReady waits for status.ready to equal ready.
func (f *framework) waitForJobReady(name string, ready *int32) {
	f.t.Helper()
	f.waitForJobState(name, func(job *batchv1.Job) string {
		if ptr.Equal(ready, job.Status.Ready) {
			return ""
		}
		return "job does not match intended ready status"
	})
}

// waitForJobSuspend waits for Suspended=True.
func (f *framework) waitForJobSuspend(name string) {
	f.t.Helper()
	f.waitForJobCondition(name, batchv1.JobSuspended, nil)
}

// waitForJobState polls the Job until state returns "".
func (f *framework) waitForJobState(name string, state func(*batchv1.Job) string) *batchv1.Job {
	f.t.Helper()
	var last string
	var job *batchv1.Job
	err := pollErr(jobTimeout, func() (bool, error) {
		var err error
		job, err = f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = state(job)
		return last == "", nil
	})
	if err != nil {
		f.t.Fatalf("job %s: %s: %v\n%s", name, last, err, describeJob(job))
	}
	return job
}

// waitForAllJobPodsGone waits until no pod carries the Job's label.
func (f *framework) waitForAllJobPodsGone(name string) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, "all pods of job "+name+" gone", func() (bool, error) {
		pods, err := f.getJobPods(name)
		return err == nil && len(pods.Items) == 0, err
	})
}

// waitForPodNotFound is e2epod.WaitForPodNotFoundInNamespace.
func (f *framework) waitForPodNotFound(name string) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, "pod "+name+" not found", func() (bool, error) {
		_, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// waitForPodCondition is e2epod.WaitForPodCondition.
func (f *framework) waitForPodCondition(name, desc string, cond func(*corev1.Pod) (bool, error)) {
	f.t.Helper()
	pollUntil(f.t, jobTimeout, "pod "+name+" "+desc, func() (bool, error) {
		pod, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cond(pod)
	})
}

// updatePod is e2epod.PodClient.Update: get, mutate, update, retrying on
// conflicts.
func (f *framework) updatePod(name string, mutate func(*corev1.Pod)) {
	f.t.Helper()
	pollUntil(f.t, 30*time.Second, "updating pod "+name, func() (bool, error) {
		pod, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		mutate(pod)
		_, err = f.cs.CoreV1().Pods(f.ns).Update(f.ctx, pod, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) {
			return false, nil
		}
		return err == nil, err
	})
}

func conditionTrue(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// describeJob is a short dump of a Job's status for failure messages.
func describeJob(job *batchv1.Job) string {
	if job == nil {
		return "<no job>"
	}
	s := job.Status
	out := fmt.Sprintf("active=%d ready=%v succeeded=%d failed=%d terminating=%v completed=%q failedIndexes=%v uncounted=%+v",
		s.Active, ptr.Deref(s.Ready, -1), s.Succeeded, s.Failed, ptr.Deref(s.Terminating, -1), s.CompletedIndexes, ptr.Deref(s.FailedIndexes, "<nil>"), s.UncountedTerminatedPods)
	for _, c := range s.Conditions {
		out += fmt.Sprintf("\n  %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	return out
}
