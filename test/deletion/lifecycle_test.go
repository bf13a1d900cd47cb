package deletion

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// setPodPhase writes status.phase through pods/status, playing the node.
func (e *env) setPodPhase(name string, phase corev1.PodPhase) {
	e.t.Helper()
	patch := `{"status":{"phase":"` + string(phase) + `"}}`
	if _, err := e.ts.Client.CoreV1().Pods(e.ns).Patch(e.ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		e.t.Fatalf("setting pod %s phase %s: %v", name, phase, err)
	}
}

// jobStates returns the Job objects seen on a watch, in order.
func jobStates(evs []event) []*batchv1.Job {
	var out []*batchv1.Job
	for _, ev := range evs {
		if j, ok := ev.Obj.(*batchv1.Job); ok {
			out = append(out, j)
		}
	}
	return out
}

// conditionTypes lists a Job's condition types in order.
func conditionTypes(j *batchv1.Job) []batchv1.JobConditionType {
	var out []batchv1.JobConditionType
	for _, c := range j.Status.Conditions {
		out = append(out, c.Type)
	}
	return out
}

// Checklist 91: a succeeded pod completes the Job (SuccessCriteriaMet, then
// Complete); ttlSecondsAfterFinished 3 then deletes it in the foreground,
// together with its pod.
func TestTTLAfterFinished_CompleteThenForegroundDelete(t *testing.T) {
	e := setup(t, "ttl")
	spec := pendingJob("ttl")
	spec.Spec.TTLSecondsAfterFinished = ptr[int32](3)
	job := e.createJob(spec)
	pod := e.waitJobPods(job, 1)[0]
	podEvents, jobEvents := e.watchPods(), e.watchJobs()

	e.setPodPhase(pod.Name, corev1.PodSucceeded)
	jobDeleted := e.waitDeleted(jobEvents, "job", "ttl")
	podDeleted := e.waitDeleted(podEvents, "pod", pod.Name)
	if podDeleted.RV > jobDeleted.RV {
		t.Errorf("pod DELETED at rv %d after the job (rv %d)", podDeleted.RV, jobDeleted.RV)
	}

	var complete, marked *batchv1.Job
	for _, j := range jobStates(jobEvents.of("ttl")) {
		if c := findCondition(j, batchv1.JobComplete); c != nil && complete == nil {
			complete = j
		}
		if j.DeletionTimestamp != nil && marked == nil {
			marked = j
		}
		if findCondition(j, batchv1.JobComplete) != nil && findCondition(j, batchv1.JobSuccessCriteriaMet) == nil {
			t.Errorf("Complete without SuccessCriteriaMet at rv %s", j.ResourceVersion)
		}
	}
	if complete == nil || marked == nil {
		t.Fatalf("watch saw no Complete job (%v) or no job marked for deletion (%v)", complete != nil, marked != nil)
	}
	want := []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete}
	if got := conditionTypes(complete); !slices.Equal(got, want) {
		t.Errorf("conditions %v, want %v", got, want)
	}
	for _, typ := range want {
		expectCondition(t, complete, typ, corev1.ConditionTrue, "CompletionsReached", "Reached expected number of succeeded pods")
	}
	if complete.Status.Succeeded != 1 || complete.Status.CompletionTime == nil {
		t.Errorf("complete job succeeded %d completionTime %v, want 1 and set", complete.Status.Succeeded, complete.Status.CompletionTime)
	}
	if !slices.Equal(marked.Finalizers, []string{"foregroundDeletion"}) {
		t.Errorf("TTL deletion finalizers %q, want [foregroundDeletion]", marked.Finalizers)
	}
	finished := findCondition(complete, batchv1.JobComplete).LastTransitionTime.Time
	if d := marked.DeletionTimestamp.Sub(finished); d < 3*time.Second || d > 15*time.Second {
		t.Errorf("deleted %s after finishing, want about 3s (ttlSecondsAfterFinished)", d)
	}
}

// Checklist 92: backoffLimit 0 and one failed pod of two: FailureTarget,
// then Failed, both BackoffLimitExceeded; the other pod is deleted and
// counted, failed 2.
func TestJobController_BackoffLimitZero_Fails(t *testing.T) {
	e := setup(t, "backoff")
	spec := pendingJob("bl")
	spec.Spec.BackoffLimit = ptr[int32](0)
	spec.Spec.Completions, spec.Spec.Parallelism = ptr[int32](2), ptr[int32](2)
	job := e.createJob(spec)
	pods := e.waitJobPods(job, 2)
	jobEvents := e.watchJobs()

	e.setPodPhase(pods[0].Name, corev1.PodFailed)
	got := e.waitJob("bl", "Failed condition", func(j *batchv1.Job) bool { return findCondition(j, batchv1.JobFailed) != nil })
	want := []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed}
	if types := conditionTypes(got); !slices.Equal(types, want) {
		t.Errorf("conditions %v, want %v", types, want)
	}
	for _, typ := range want {
		expectCondition(t, got, typ, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	}
	if got.Status.Failed != 2 || got.Status.Active != 0 {
		t.Errorf("status failed %d active %d, want 2 and 0", got.Status.Failed, got.Status.Active)
	}
	for _, j := range jobStates(jobEvents.of("bl")) {
		if findCondition(j, batchv1.JobFailed) != nil && findCondition(j, batchv1.JobFailureTarget) == nil {
			t.Errorf("Failed without FailureTarget at rv %s", j.ResourceVersion)
		}
	}
	e.waitGone("pods", pods[1].Name)
	failed, err := e.getPod(pods[0].Name)
	if err != nil {
		t.Fatalf("the failed pod must remain: %v", err)
	}
	if slices.Contains(failed.Finalizers, trackingFinalizer) {
		t.Errorf("counted failed pod still has %s", trackingFinalizer)
	}
}

// Checklist 93: deleting a running Job's pod counts a failure and, after the
// controller's 10 s back-off, creates a replacement.
func TestJobController_PodDeleted_FailedAndReplaced(t *testing.T) {
	e := setup(t, "replace")
	job := e.createJob(pendingJob("j"))
	first := e.waitJobPods(job, 1)[0]
	e.waitJob("j", "status.active 1", func(j *batchv1.Job) bool { return j.Status.Active == 1 })
	podEvents := e.watchPods()

	deletedAt := time.Now()
	if err := e.ts.Client.CoreV1().Pods(e.ns).Delete(e.ctx, first.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting pod: %v", err)
	}
	e.waitJob("j", "status.failed 1", func(j *batchv1.Job) bool { return j.Status.Failed == 1 })
	e.waitGone("pods", first.Name)
	var replacement *corev1.Pod
	e.poll("replacement pod", func() (bool, error) {
		for _, ev := range podEvents.events() {
			if ev.Type == watch.Added && ev.Obj.GetName() != first.Name {
				replacement = ev.Obj.(*corev1.Pod)
				return true, nil
			}
		}
		return false, nil
	})
	elapsed := time.Since(deletedAt)
	if elapsed < 8*time.Second {
		t.Errorf("replacement %s created %s after the failure, want the ~10s back-off", replacement.Name, elapsed)
	}
	got := e.waitJob("j", "status.active 1 again", func(j *batchv1.Job) bool { return j.Status.Active == 1 })
	if got.Status.Failed != 1 {
		t.Errorf("status.failed %d, want 1", got.Status.Failed)
	}
}
