package job

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const wantFinalizerPatch = `{"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}`

func TestController_Sync_CreatesPodsUpToParallelism(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 5)
	f := newFixture(t, job)
	f.sync(job)

	f.wantActions("create pods", "create pods", "update jobs/status")
	for _, p := range f.createdPods() {
		want := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "default", GenerateName: "j-", Name: p.Name, UID: p.UID, ResourceVersion: p.ResourceVersion,
				Labels:          job.Spec.Template.Labels,
				Finalizers:      []string{batchv1.JobTrackingFinalizer},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: job.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			},
			Spec: job.Spec.Template.Spec,
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("created pod (-want +got):\n%s", diff)
		}
	}
	st := f.lastStatus()
	if diff := cmp.Diff(counters{Active: 2}, countersOf(st)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if st.StartTime == nil || !st.StartTime.Time.Equal(testNow) {
		t.Errorf("startTime = %v, want %v", st.StartTime, testNow)
	}
	if got := hasPrefix(f.events(), "Normal SuccessfulCreate Created pod: j-"); got != 2 {
		t.Errorf("SuccessfulCreate events = %d, want 2", got)
	}
}

// TestController_Sync_CreatesAtMostMaxPerSync: a sync creates at most
// maxPodCreateDeletePerSync pods (1,000; upstream 500) and reports them
// active; the rest come in the next sync.
func TestController_Sync_CreatesAtMostMaxPerSync(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1200, 1200)
	f := newFixture(t, job)
	f.sync(job)

	if got := len(f.createdPods()); got != maxPodCreateDeletePerSync {
		t.Errorf("pods created in one sync = %d, want %d", got, maxPodCreateDeletePerSync)
	}
	if got := f.lastStatus().Active; got != maxPodCreateDeletePerSync {
		t.Errorf("status.active = %d, want %d", got, maxPodCreateDeletePerSync)
	}
}

func TestController_Sync_CompletesAfterSuccess(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, started(time.Minute))
	pod := newPod(job, "p", corev1.PodSucceeded)
	f := newFixture(t, job, pod)
	f.sync(job)

	f.wantActions("update jobs/status", "patch pods p", "update jobs/status")
	if diff := cmp.Diff([]string{wantFinalizerPatch}, f.patches("p")); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
	writes := f.statusWrites()
	if diff := cmp.Diff(counters{UncountedSucceeded: 1}, countersOf(writes[0])); diff != "" {
		t.Errorf("first write (-want +got):\n%s", diff)
	}
	wantConds := []string{"SuccessCriteriaMet=True CompletionsReached: Reached expected number of succeeded pods"}
	if diff := cmp.Diff(wantConds, conditionsOf(writes[0])); diff != "" {
		t.Errorf("first write conditions (-want +got):\n%s", diff)
	}
	final := writes[1]
	if diff := cmp.Diff(counters{Succeeded: 1}, countersOf(final)); diff != "" {
		t.Errorf("final counters (-want +got):\n%s", diff)
	}
	wantConds = append(wantConds, "Complete=True CompletionsReached: Reached expected number of succeeded pods")
	if diff := cmp.Diff(wantConds, conditionsOf(final)); diff != "" {
		t.Errorf("final conditions (-want +got):\n%s", diff)
	}
	if final.CompletionTime == nil || !final.CompletionTime.Time.Equal(testNow) {
		t.Errorf("completionTime = %v, want %v", final.CompletionTime, testNow)
	}
	if diff := cmp.Diff([]string{"Normal Completed Job completed"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestController_Sync_WorkQueueJob(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		pods         []corev1.PodPhase
		wantActions  []string
		wantComplete bool
	}{
		"no success yet starts parallelism pods": {
			wantActions: []string{"create pods", "create pods", "update jobs/status"},
		},
		"one success stops new pods while another runs": {
			pods:        []corev1.PodPhase{corev1.PodSucceeded, corev1.PodRunning},
			wantActions: []string{"update jobs/status", "patch pods p0", "update jobs/status"},
		},
		"success and nothing active completes": {
			pods:         []corev1.PodPhase{corev1.PodSucceeded},
			wantActions:  []string{"update jobs/status", "patch pods p0", "update jobs/status"},
			wantComplete: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := newJob("wq", 2, 0, started(time.Minute), func(j *batchv1.Job) { j.Spec.Completions = nil })
			objs := []runtime.Object{job}
			for i, ph := range tc.pods {
				objs = append(objs, newPod(job, "p"+itoa(i), ph))
			}
			f := newFixture(t, objs...)
			f.sync(job)
			f.wantActions(tc.wantActions...)
			complete := findCondition(f.lastStatus().Conditions, batchv1.JobComplete) != nil
			if complete != tc.wantComplete {
				t.Errorf("complete = %v, want %v; conditions %v", complete, tc.wantComplete, conditionsOf(f.lastStatus()))
			}
		})
	}
}

func TestController_Sync_BackoffLimitExceeded(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 2, started(time.Minute), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) })
	failed := newPod(job, "failed", corev1.PodFailed)
	running := newPod(job, "running", corev1.PodRunning)
	f := newFixture(t, job, failed, running)
	f.sync(job)

	f.wantActions("delete pods running", "update jobs/status", "patch pods failed", "patch pods running", "update jobs/status")
	st := f.lastStatus()
	want := []string{"FailureTarget=True BackoffLimitExceeded: Job has reached the specified backoff limit"}
	if diff := cmp.Diff(want, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	// The running pod was deleted and counted as failed; it is still
	// terminating, so Failed waits.
	if diff := cmp.Diff(counters{Terminating: 1, Failed: 2}, countersOf(st)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	// Next sync: the pods are gone.
	g := newFixture(t, jobWithStatus(job, st))
	g.sync(job)
	st = g.lastStatus()
	want = append(want, "Failed=True BackoffLimitExceeded: Job has reached the specified backoff limit")
	if diff := cmp.Diff(want, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Warning BackoffLimitExceeded Job has reached the specified backoff limit"}, g.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestController_Sync_PodFailureBackoff(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, started(time.Minute))
	f := newFixture(t, job, newPod(job, "failed", corev1.PodFailed))
	f.sync(job)
	f.wantActions("update jobs/status", "patch pods failed", "update jobs/status")
	if diff := cmp.Diff(counters{Failed: 1}, countersOf(f.lastStatus())); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	// The failure is counted; the replacement waits 10s after it.
	g := newFixture(t, jobWithStatus(job, f.lastStatus()))
	g.ctrl.backoff = f.ctrl.backoff
	g.clock.Step(9 * time.Second)
	g.sync(job)
	g.wantActions()
	g.clock.Step(time.Second)
	g.sync(job)
	g.wantActions("create pods", "update jobs/status")
}

func TestController_Sync_ActiveDeadline(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, started(20*time.Second), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) })
	f := newFixture(t, job, newPod(job, "p", corev1.PodRunning))
	f.sync(job)
	f.wantActions("delete pods p", "update jobs/status", "patch pods p", "update jobs/status")
	want := []string{"FailureTarget=True DeadlineExceeded: Job was active longer than specified deadline"}
	if diff := cmp.Diff(want, conditionsOf(f.lastStatus())); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}

	g := newFixture(t, jobWithStatus(job, f.lastStatus()))
	g.sync(job)
	want = append(want, "Failed=True DeadlineExceeded: Job was active longer than specified deadline")
	if diff := cmp.Diff(want, conditionsOf(g.lastStatus())); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Warning DeadlineExceeded Job was active longer than specified deadline"}, g.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestController_Sync_ActiveDeadlineRequeuesAtDeadline(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, started(4*time.Second), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) })
	f := newFixture(t, job, newPod(job, "p", corev1.PodRunning))
	f.sync(job)
	if n := f.ctrl.queue.Len(); n != 0 {
		t.Fatalf("queue length before the deadline = %d, want 0", n)
	}
	f.clock.Step(6 * time.Second)
	pollUntil(t, 5*time.Second, func() bool { return f.ctrl.queue.Len() == 1 })
}

func jobWithStatus(job *batchv1.Job, st batchv1.JobStatus) *batchv1.Job {
	j := job.DeepCopy()
	j.Status = *st.DeepCopy()
	j.ResourceVersion = "2"
	return j
}

func pollUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A Job deleted between the informer's copy and the status write is not
// retried: the write's 404 means the delete event is on its way.
func TestController_ProcessNextJob_DeletedJobIsNotRequeued(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	f := newFixture(t, job)
	if err := f.client.Tracker().Delete(batchv1.SchemeGroupVersion.WithResource("jobs"), job.Namespace, job.Name); err != nil {
		t.Fatalf("deleting from the fake server: %v", err)
	}
	f.ctrl.queue.Add(keyOf(job))
	f.ctrl.processNextJob(t.Context())
	if diff := cmp.Diff([]string{"update jobs/status"}, f.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if n, r := f.ctrl.queue.Len(), f.ctrl.queue.NumRequeues(keyOf(job)); n != 0 || r != 0 {
		t.Errorf("queue length %d, requeues %d; want 0, 0", n, r)
	}
}

// listHook is a pod indexer whose ByIndex runs hook first: it plays an
// informer event handler that runs while a sync lists the pods.
type listHook struct {
	cache.Indexer
	hook func()
}

func (l *listHook) ByIndex(name, value string) ([]any, error) {
	if l.hook != nil {
		l.hook()
		l.hook = nil
	}
	return l.Indexer.ByIndex(name, value)
}

// A pod whose finalizer removal is observed while the sync lists pods (the
// list still shows the finalizer) is not counted a second time: this once
// let a 1,000-pod Job end with 1,003 successes.
func TestController_Sync_FinalizerRemovalObservedDuringListIsNotCountedTwice(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 2)
	counted := newPod(job, "counted", corev1.PodSucceeded) // still shows the finalizer
	job.Status.Succeeded = 1                               // our last status write counted it
	f := newFixture(t, job, counted, newPod(job, "running", corev1.PodRunning))
	key := keyOf(job)
	f.ctrl.finalizerExpect.expectRemoved(key, []types.UID{counted.UID})
	f.ctrl.podIndexer = &listHook{Indexer: f.ctrl.podIndexer, hook: func() {
		f.ctrl.finalizerExpect.removalObserved(key, counted.UID)
	}}
	f.sync(job)
	for _, st := range f.statusWrites() {
		if st.Succeeded > 1 || len(st.UncountedTerminatedPods.Succeeded) > 0 {
			t.Errorf("status write counts the pod again: succeeded %d, uncounted %v", st.Succeeded, st.UncountedTerminatedPods.Succeeded)
		}
	}
}
