package jobs

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// TestJob_Features_Fake covers the Job features whose behaviour does not
// depend on real processes, with the fake runtime (containers finish after
// the skiff.dev/fake-duration annotation with skiff.dev/fake-exit-code).
func TestJob_Features_Fake(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "fake")
	cases := map[string]func(*testing.T, *framework){
		"Parallelism_NeverExceeded":               featParallelism,
		"WorkQueue_CompletionsNil":                featWorkQueue,
		"BackoffLimit_PodBackoffThenFailed":       featBackoffLimit,
		"ActiveDeadlineSeconds_DeadlineExceeded":  featActiveDeadline,
		"Suspend_RunningPodsDeletedAndResumed":    featSuspendRunning,
		"StatusReady_FollowsSuspend":              featStatusReady,
		"PodFailurePolicy_CountAndIgnore":         featPodFailurePolicyCount,
		"BackoffLimitPerIndex_FailureCountLabels": featFailureCountAnnotation,
		"ManagedBy_StatusUntouched":               featManagedBy,
		"TTLAfterFinished_JobAndPodsDeleted":      featTTL,
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, c.newFramework(t, "job"))
		})
	}
}

// fakeJob is a busybox Job whose pods, on the fake runtime, run for d and
// exit with code (d < 0: until stopped).
func fakeJob(name string, parallelism int32, completions *int32, d time.Duration, code int) *batchv1.Job {
	job := newTestJob("succeed", name, corev1.RestartPolicyNever, parallelism, 0, nil, 6)
	job.Spec.Completions = completions
	job.Spec.Template.Annotations = map[string]string{
		crt.AnnotationFakeDuration: d.String(),
		crt.AnnotationFakeExitCode: fmt.Sprint(code),
	}
	return job
}

// jobEvents returns "Type Reason: Message" of the events about the Job.
func (f *framework) jobEvents(name string) []string {
	f.t.Helper()
	sel := fields.Set{"involvedObject.kind": "Job", "involvedObject.name": name}.AsSelector().String()
	evs, err := f.cs.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		f.t.Fatalf("listing events of job %s: %v", name, err)
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Type+" "+e.Reason+": "+e.Message)
	}
	sort.Strings(out)
	return out
}

// waitForJobEventReason waits for an event of the Job with reason.
func (f *framework) waitForJobEventReason(name, reason string) []string {
	f.t.Helper()
	var evs []string
	pollUntil(f.t, jobTimeout, "event "+reason+" of job "+name, func() (bool, error) {
		evs = f.jobEvents(name)
		return slices.ContainsFunc(evs, func(e string) bool { return strings.Contains(e, " "+reason+": ") }), nil
	})
	return evs
}

func featParallelism(t *testing.T, f *framework) {
	job := fakeJob("par", 3, ptr.To[int32](8), 300*time.Millisecond, 0)
	w, err := f.cs.CoreV1().Pods(f.ns).Watch(f.ctx, metav1.ListOptions{LabelSelector: jobSelectorKey + "=par"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	maxActive := make(chan int, 1)
	go func() {
		active, most := map[string]bool{}, 0
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			running := ev.Type != watch.Deleted && p.DeletionTimestamp == nil &&
				p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
			active[p.Name] = running
			n := 0
			for _, a := range active {
				if a {
					n++
				}
			}
			most = max(most, n)
		}
		maxActive <- most
	}()
	job = f.createJob(job)
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, 8)
	w.Stop()
	if most := <-maxActive; most != 3 {
		t.Errorf("at most %d pods were active at once, want parallelism 3", most)
	}
	pods := f.mustJobPods(job.Name)
	if len(pods) != 8 {
		t.Errorf("job has %d pods, want 8", len(pods))
	}
	for _, p := range pods {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("finished pod %s keeps the job-tracking finalizer", p.Name)
		}
	}
	got := f.getJob(job.Name)
	if u := got.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncountedTerminatedPods %+v after completion", u)
	}
	if got.Status.StartTime == nil || got.Status.CompletionTime == nil || got.Status.CompletionTime.Before(got.Status.StartTime) {
		t.Errorf("startTime %v, completionTime %v", got.Status.StartTime, got.Status.CompletionTime)
	}
	evs := f.waitForJobEventReason(job.Name, "Completed")
	if n := countPrefix(evs, "Normal SuccessfulCreate: Created pod: par-"); n != 8 {
		t.Errorf("%d SuccessfulCreate events, want 8: %v", n, evs)
	}
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// A work queue: completions nil; the Job completes once one pod succeeded
// and the others have finished, and creates no pod after a success.
func featWorkQueue(t *testing.T, f *framework) {
	job := f.createJob(fakeJob("queue", 3, nil, 200*time.Millisecond, 0))
	got := f.waitForJobState(job.Name, func(j *batchv1.Job) string {
		if conditionTrue(j, batchv1.JobComplete) {
			return ""
		}
		return "not complete"
	})
	if got.Spec.Completions != nil {
		t.Errorf("spec.completions %d, want nil", *got.Spec.Completions)
	}
	if got.Status.Succeeded < 1 || got.Status.Succeeded > 3 || got.Status.Active != 0 {
		t.Errorf("succeeded %d active %d, want 1..3 and 0", got.Status.Succeeded, got.Status.Active)
	}
	if pods := f.mustJobPods(job.Name); len(pods) != int(got.Status.Succeeded) {
		t.Errorf("%d pods for %d successes: no pod may be created after a success", len(pods), got.Status.Succeeded)
	}
}

// "should fail to exceed backoffLimit", plus the pod back-off: the second
// pod is created no earlier than 10 s after the first failed.
func featBackoffLimit(t *testing.T, f *framework) {
	job := fakeJob("backofflimit", 1, ptr.To[int32](1), 0, 1)
	job.Spec.BackoffLimit = ptr.To[int32](1)
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobFailureTarget, ptr.To(batchv1.JobReasonBackoffLimitExceeded))
	f.waitForJobCondition(job.Name, batchv1.JobFailed, ptr.To(batchv1.JobReasonBackoffLimitExceeded))
	pods := f.mustJobPods(job.Name)
	if len(pods) != 2 {
		t.Fatalf("job has %d pods, want 2", len(pods))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp) })
	for _, p := range pods {
		if p.Status.Phase != corev1.PodFailed {
			t.Errorf("pod %s phase %s, want Failed", p.Name, p.Status.Phase)
		}
	}
	first := pods[0].Status.ContainerStatuses[0].State.Terminated
	if first == nil {
		t.Fatalf("first pod has no terminated state")
	}
	// Timestamps are whole seconds: allow one second of rounding.
	if gap := pods[1].CreationTimestamp.Sub(first.FinishedAt.Time); gap < 9*time.Second {
		t.Errorf("second pod created %s after the first failed, want the 10s back-off", gap)
	}
	expectFinalCounts(t, f.getJob(job.Name))
	evs := f.waitForJobEventReason(job.Name, "BackoffLimitExceeded")
	if !slices.Contains(evs, "Warning BackoffLimitExceeded: Job has reached the specified backoff limit") {
		t.Errorf("events %v lack BackoffLimitExceeded", evs)
	}
}

// "should fail when exceeds active deadline"
func featActiveDeadline(t *testing.T, f *framework) {
	job := fakeJob("exceed-active-deadline", 2, ptr.To[int32](4), -1, 0)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobFailureTarget, ptr.To(batchv1.JobReasonDeadlineExceeded))
	f.waitForJobCondition(job.Name, batchv1.JobFailed, ptr.To(batchv1.JobReasonDeadlineExceeded))
	got := f.getJob(job.Name)
	expectFinalCounts(t, got)
	if c := findCondition(got.Status.Conditions, batchv1.JobFailed); c.Message != "Job was active longer than specified deadline" {
		t.Errorf("Failed condition message %q", c.Message)
	}
	f.waitForJobEventReason(job.Name, "DeadlineExceeded")
	f.waitForAllJobPodsGone(job.Name)
}

// "should delete pods when suspended" and "should not create pods when
// created in suspend state".
func featSuspendRunning(t *testing.T, f *framework) {
	job := fakeJob("suspend-false-to-true", 2, ptr.To[int32](4), -1, 0)
	job.Spec.Suspend = ptr.To(false)
	job = f.createJob(job)
	f.waitForJobPodsInPhase(job.Name, 2, corev1.PodRunning)
	for _, p := range f.mustJobPods(job.Name) {
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("running pod %s lacks the job-tracking finalizer: %v", p.Name, p.Finalizers)
		}
	}
	f.setSuspend(job.Name, true)
	f.waitForAllJobPodsGone(job.Name)
	got := f.getJob(job.Name)
	c := findCondition(got.Status.Conditions, batchv1.JobSuspended)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "JobSuspended" {
		t.Fatalf("Suspended condition %+v", c)
	}
	f.waitForJobEventReason(job.Name, "Suspended")
	evs := f.waitForJobEventReason(job.Name, "SuccessfulDelete")
	if n := countPrefix(evs, "Normal SuccessfulDelete: Deleted pod: "); n != 2 {
		t.Errorf("%d SuccessfulDelete events, want 2: %v", n, evs)
	}
	f.setSuspend(job.Name, false)
	f.waitForJobPodsInPhase(job.Name, 2, corev1.PodRunning)
	f.waitForJobEventReason(job.Name, "Resumed")
}

func (f *framework) setSuspend(name string, suspend bool) {
	f.t.Helper()
	pollUntil(f.t, 30*time.Second, "updating suspend of job "+name, func() (bool, error) {
		job, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		job.Spec.Suspend = ptr.To(suspend)
		_, err = f.updateJob(job)
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// "should update the status ready field"
func featStatusReady(_ *testing.T, f *framework) {
	job := fakeJob("all-ready", 2, ptr.To[int32](4), -1, 0)
	job.Spec.Suspend = ptr.To(true)
	job = f.createJob(job)
	f.waitForJobReady(job.Name, ptr.To[int32](0))
	f.setSuspend(job.Name, false)
	f.waitForJobReady(job.Name, ptr.To[int32](2))
	f.setSuspend(job.Name, true)
	f.waitForJobReady(job.Name, ptr.To[int32](0))
}

// podFailurePolicy Count counts a matching failure against backoffLimit 0,
// Ignore does not: exit code 3 is ignored (and the pod replaced), exit 4
// is counted and fails the Job.
func featPodFailurePolicyCount(t *testing.T, f *framework) {
	rules := []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{4}}},
	}
	ignored := fakeJob("ignored", 1, ptr.To[int32](1), 0, 3)
	ignored.Spec.BackoffLimit = ptr.To[int32](0)
	ignored.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
	ignored = f.createJob(ignored)
	counted := fakeJob("counted", 1, ptr.To[int32](1), 0, 4)
	counted.Spec.BackoffLimit = ptr.To[int32](0)
	counted.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
	counted = f.createJob(counted)

	f.waitForJobCondition(counted.Name, batchv1.JobFailed, ptr.To(batchv1.JobReasonBackoffLimitExceeded))
	if got := f.getJob(counted.Name); got.Status.Failed != 1 {
		t.Errorf("counted job: status.failed %d, want 1", got.Status.Failed)
	}
	// The ignored failure is replaced (after the pod back-off) and never
	// counted: status.failed stays 0 while a second pod appears.
	pollUntil(t, jobTimeout, "ignored job: a replacement pod", func() (bool, error) {
		pods, err := f.getJobPods(ignored.Name)
		return err == nil && len(pods.Items) >= 2, err
	})
	got := f.getJob(ignored.Name)
	if got.Status.Failed != 0 || conditionTrue(got, batchv1.JobFailed) {
		t.Errorf("ignored job counted its failures: %s", describeJob(got))
	}
}

// "should record the failure-count in the Pod annotation when using
// backoffLimitPerIndex"
func featFailureCountAnnotation(t *testing.T, f *framework) {
	job := fakeJob("e2e-backofflimitperindex-"+randomString(5), 2, ptr.To[int32](2), 0, 1)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job = f.createJob(job)
	f.waitForJobFailed(job.Name)
	seen := map[string][]string{}
	for _, p := range f.mustJobPods(job.Name) {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		seen[ix] = append(seen[ix], p.Annotations[batchv1.JobIndexFailureCountAnnotation])
	}
	for _, v := range seen {
		sort.Strings(v)
	}
	if diff := cmp.Diff(map[string][]string{"0": {"0", "1"}, "1": {"0", "1"}}, seen); diff != "" {
		t.Errorf("failure-count annotations per index (-want +got):\n%s", diff)
	}
	want := indexCounts{FailedIndexes: "0,1", CompletedIndexes: "", Failed: 4, Succeeded: 0}
	if diff := cmp.Diff(want, countsOf(f.getJob(job.Name))); diff != "" {
		t.Errorf("job status (-want +got):\n%s", diff)
	}
}

// "should allow to delegate reconciliation to external controller"
func featManagedBy(t *testing.T, f *framework) {
	job := fakeJob("managed-by", 2, ptr.To[int32](4), 0, 0)
	job.Spec.ManagedBy = ptr.To("example.com/custom-job-controller")
	job = f.createJob(job)
	// A Job the controller does own, created after, proves the controller
	// has had its chance to act on the first.
	other := f.createJob(fakeJob("barrier", 1, ptr.To[int32](1), 0, 0))
	f.waitForJobComplete(other.Name, batchv1.JobReasonCompletionsReached, 1)
	if got := f.getJob(job.Name); !cmp.Equal(got.Status, batchv1.JobStatus{}) {
		t.Errorf("status of a Job managed by another controller changed: %s", describeJob(got))
	}
	if pods := f.mustJobPods(job.Name); len(pods) != 0 {
		t.Errorf("%d pods created for a Job managed by another controller", len(pods))
	}
}

// ttlSecondsAfterFinished 0 deletes a finished Job at once, and its pods
// with it (foreground).
func featTTL(_ *testing.T, f *framework) {
	job := fakeJob("ttl", 1, ptr.To[int32](1), 0, 0)
	job.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
	job = f.createJob(job)
	pollUntil(f.t, jobTimeout, "job deleted after finishing", func() (bool, error) {
		_, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, job.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	f.waitForAllJobPodsGone(job.Name)
}
