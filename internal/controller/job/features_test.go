package job

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func suspended(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }

func TestController_Sync_SuspendDeletesPods(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 4, started(time.Minute), suspended)
	f := newFixture(t, job, newPod(job, "a", corev1.PodRunning, withReady()), newPod(job, "b", corev1.PodPending))
	f.sync(job)

	f.wantActions("patch pods a", "patch pods b", "delete pods a", "delete pods b", "update jobs/status")
	st := f.lastStatus()
	if diff := cmp.Diff([]string{"Suspended=True JobSuspended: Job suspended"}, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(counters{Terminating: 2}, countersOf(st)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if st.StartTime != nil {
		t.Errorf("startTime = %v, want cleared", st.StartTime)
	}
	want := []string{"Normal SuccessfulDelete Deleted pod: a", "Normal SuccessfulDelete Deleted pod: b", "Normal Suspended Job suspended"}
	if diff := cmp.Diff(want, normalizeEvents(f.events())); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestController_Sync_CreatedSuspended(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 4, suspended)
	f := newFixture(t, job)
	f.sync(job)
	f.wantActions("update jobs/status")
	st := f.lastStatus()
	if st.StartTime != nil {
		t.Errorf("startTime = %v, want nil", st.StartTime)
	}
	if diff := cmp.Diff([]string{"Suspended=True JobSuspended: Job suspended"}, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}

func TestController_Sync_Resume(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 4, func(j *batchv1.Job) {
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended", Message: "Job suspended"}}
	})
	f := newFixture(t, job)
	f.sync(job)
	f.wantActions("create pods", "create pods", "update jobs/status")
	st := f.lastStatus()
	if diff := cmp.Diff([]string{"Suspended=False JobResumed: Job resumed"}, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if st.StartTime == nil || !st.StartTime.Time.Equal(testNow) {
		t.Errorf("startTime = %v, want %v", st.StartTime, testNow)
	}
	if got := hasPrefix(f.events(), "Normal Resumed Job resumed"); got != 1 {
		t.Errorf("Resumed events = %d, want 1", got)
	}
}

func TestController_Sync_IndexedPods(t *testing.T) {
	t.Parallel()
	job := newJob("idx", 2, 3, indexed(), started(time.Minute), func(j *batchv1.Job) { j.Spec.Template.Spec.Subdomain = "svc" })
	f := newFixture(t, job, newPod(job, "p0", corev1.PodSucceeded, withIndex(0)))
	f.sync(job)

	f.wantActions("create pods", "create pods", "update jobs/status", "patch pods p0")
	byIndex := map[string]*corev1.Pod{}
	for _, p := range f.createdPods() {
		byIndex[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p
	}
	for _, ix := range []string{"1", "2"} {
		p := byIndex[ix]
		if p == nil {
			t.Fatalf("no pod for index %s; created %d pods", ix, len(f.createdPods()))
		}
		got := []string{p.GenerateName, p.Spec.Hostname, p.Spec.Subdomain, p.Labels[batchv1.JobCompletionIndexAnnotation]}
		if diff := cmp.Diff([]string{"idx-" + ix + "-", "idx-" + ix, "svc", ix}, got); diff != "" {
			t.Errorf("index %s pod (-want +got):\n%s", ix, diff)
		}
		wantEnv := []corev1.EnvVar{{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}}
		if diff := cmp.Diff(wantEnv, p.Spec.Containers[0].Env); diff != "" {
			t.Errorf("index %s env (-want +got):\n%s", ix, diff)
		}
	}
	st := f.lastStatus()
	if st.CompletedIndexes != "0" || st.Succeeded != 1 || st.Active != 2 {
		t.Errorf("completedIndexes=%q succeeded=%d active=%d, want \"0\", 1, 2", st.CompletedIndexes, st.Succeeded, st.Active)
	}
}

func TestIndexedPodsPrefix_LongName(t *testing.T) {
	t.Parallel()
	long := "a23456789012345678901234567890123456789012345678901234567890"
	got := indexedPodsPrefix(long, 12)
	if len(got) != maxGeneratedNameLength || got[len(got)-4:] != "-12-" {
		t.Errorf("indexedPodsPrefix = %q (len %d)", got, len(got))
	}
}

func TestIntervals_ParseMergeString(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in    string
		add   []int
		limit int
		want  string
	}{
		"empty plus indexes":         {add: []int{0, 1, 2, 5}, limit: 10, want: "0-2,5"},
		"adjacent pair uses a comma": {in: "3", add: []int{4}, limit: 10, want: "3,4"},
		"merges into ranges":         {in: "1,3-5", add: []int{2, 6}, limit: 10, want: "1-6"},
		"drops out of range":         {in: "1,8-12", limit: 10, want: "1,8,9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := parseIntervals(discardLogger(), tc.in, tc.limit).withIndexes(tc.add).String()
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestController_Sync_PodFailurePolicy(t *testing.T) {
	t.Parallel()
	rule := func(action batchv1.PodFailurePolicyAction, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: codes}}
	}
	disruption := batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}
	tests := map[string]struct {
		rules      []batchv1.PodFailurePolicyRule
		pod        podOpt
		wantConds  []string
		wantFailed int32
	}{
		"FailJob on exit code": {
			rules: []batchv1.PodFailurePolicyRule{rule(batchv1.PodFailurePolicyActionFailJob, 42)},
			pod:   withExitCode(42),
			wantConds: []string{
				"FailureTarget=True PodFailurePolicy: Container main for pod default/p failed with exit code 42 matching FailJob rule at index 0",
				"Failed=True PodFailurePolicy: Container main for pod default/p failed with exit code 42 matching FailJob rule at index 0",
			},
			wantFailed: 1,
		},
		"Ignore does not count": {
			rules: []batchv1.PodFailurePolicyRule{rule(batchv1.PodFailurePolicyActionFailJob, 42), rule(batchv1.PodFailurePolicyActionIgnore, 7)},
			pod:   withExitCode(7),
		},
		"Count counts": {
			rules:      []batchv1.PodFailurePolicyRule{rule(batchv1.PodFailurePolicyActionCount, 7)},
			pod:        withExitCode(7),
			wantFailed: 1,
		},
		"DisruptionTarget condition ignored": {
			rules: []batchv1.PodFailurePolicyRule{disruption},
			pod: func(p *corev1.Pod) {
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := newJob("j", 1, 1, started(time.Minute), func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: tc.rules}
			})
			f := newFixture(t, job, newPod(job, "p", corev1.PodFailed, tc.pod))
			f.sync(job)
			st := f.lastStatus()
			if diff := cmp.Diff(tc.wantConds, conditionsOf(st)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if st.Failed != tc.wantFailed {
				t.Errorf("failed = %d, want %d", st.Failed, tc.wantFailed)
			}
		})
	}
}

func perIndex(limit int32, maxFailed *int32) jobOpt {
	return func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.BackoffLimitPerIndex = ptr.To(limit)
		j.Spec.MaxFailedIndexes = maxFailed
		j.Spec.BackoffLimit = ptr.To[int32](2147483647)
	}
}

func TestController_Sync_BackoffLimitPerIndexReplacesWithCount(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 2, started(time.Minute), perIndex(1, nil))
	failed := newPod(job, "p0", corev1.PodFailed, withIndex(0), func(p *corev1.Pod) {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "0"
	})
	f := newFixture(t, job, failed, newPod(job, "p1", corev1.PodRunning, withIndex(1)))
	f.sync(job)
	// The failed pod keeps its finalizer until its replacement exists; the
	// replacement waits for the per-index back-off.
	f.wantActions("update jobs/status")
	f.clock.Step(10 * time.Second)
	f.sync(job)
	created := f.createdPods()
	if len(created) != 1 {
		t.Fatalf("created %d pods, want 1; actions %v", len(created), f.actions())
	}
	got := created[0].Annotations
	if got[batchv1.JobCompletionIndexAnnotation] != "0" || got[batchv1.JobIndexFailureCountAnnotation] != "1" {
		t.Errorf("replacement annotations = %v, want index 0 with failure count 1", got)
	}
	if st := f.lastStatus(); st.FailedIndexes == nil || *st.FailedIndexes != "" {
		t.Errorf("failedIndexes = %v, want empty", st.FailedIndexes)
	}
}

func TestController_Sync_FailedIndexes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		maxFailed *int32
		pods      []struct {
			ix    int
			phase corev1.PodPhase
		}
		wantFailedIndexes string
		wantConds         []string
	}{
		"max failed indexes exceeded": {
			maxFailed: ptr.To[int32](0),
			pods: []struct {
				ix    int
				phase corev1.PodPhase
			}{{0, corev1.PodFailed}, {1, corev1.PodRunning}},
			wantFailedIndexes: "0",
			wantConds:         []string{"FailureTarget=True MaxFailedIndexesExceeded: Job has exceeded the specified maximal number of failed indexes"},
		},
		"all indexes done with one failed": {
			pods: []struct {
				ix    int
				phase corev1.PodPhase
			}{{0, corev1.PodFailed}, {1, corev1.PodSucceeded}},
			wantFailedIndexes: "0",
			wantConds: []string{
				"FailureTarget=True FailedIndexes: Job has failed indexes",
				"Failed=True FailedIndexes: Job has failed indexes",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := newJob("j", 2, 2, started(time.Minute), perIndex(0, tc.maxFailed))
			objs := []runtimeObj{job}
			for _, p := range tc.pods {
				objs = append(objs, newPod(job, "p"+itoa(p.ix), p.phase, withIndex(p.ix)))
			}
			f := newFixture(t, objs...)
			f.sync(job)
			st := f.lastStatus()
			if st.FailedIndexes == nil || *st.FailedIndexes != tc.wantFailedIndexes {
				t.Errorf("failedIndexes = %v, want %q", st.FailedIndexes, tc.wantFailedIndexes)
			}
			if diff := cmp.Diff(tc.wantConds, conditionsOf(st)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_Sync_SuccessPolicy(t *testing.T) {
	t.Parallel()
	job := newJob("j", 3, 3, indexed(), started(time.Minute), func(j *batchv1.Job) {
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	})
	f := newFixture(t, job, newPod(job, "p0", corev1.PodSucceeded, withIndex(0)),
		newPod(job, "p1", corev1.PodRunning, withIndex(1)), newPod(job, "p2", corev1.PodRunning, withIndex(2)))
	f.sync(job)
	f.wantActions("delete pods p1", "delete pods p2", "update jobs/status", "patch pods p0", "patch pods p1", "patch pods p2")
	st := f.lastStatus()
	if diff := cmp.Diff([]string{"SuccessCriteriaMet=True SuccessPolicy: Matched rules at index 0"}, conditionsOf(st)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if st.CompletedIndexes != "0" || ptr.Deref(st.Terminating, 0) != 2 || st.Failed != 0 {
		t.Errorf("completedIndexes=%q terminating=%v failed=%d", st.CompletedIndexes, st.Terminating, st.Failed)
	}
}

func TestController_Sync_PodReplacementPolicy(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy      batchv1.PodReplacementPolicy
		wantCreates int
		want        counters
	}{
		"Failed waits for the terminating pod": {
			policy: batchv1.Failed,
			want:   counters{Terminating: 1},
		},
		"TerminatingOrFailed counts it failed at once": {
			policy: batchv1.TerminatingOrFailed,
			want:   counters{Terminating: 1, Failed: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := newJob("j", 1, 1, started(time.Minute), func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(tc.policy) })
			f := newFixture(t, job, newPod(job, "p", corev1.PodRunning, withDeletion()))
			f.sync(job)
			if n := len(f.createdPods()); n != tc.wantCreates {
				t.Errorf("created %d pods, want %d", n, tc.wantCreates)
			}
			if diff := cmp.Diff(tc.want, countersOf(f.lastStatus())); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_Sync_ManagedByOtherIsSkipped(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("example.com/other") })
	f := newFixture(t, job, newPod(job, "p", corev1.PodSucceeded))
	f.sync(job)
	f.wantActions()
	if err := f.ctrl.syncOrphanPod(context.Background(), keyOf(newPod(job, "p", corev1.PodSucceeded))); err != nil {
		t.Fatal(err)
	}
	f.wantActions()
}

func TestController_Sync_AdoptsAndReleases(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1, started(time.Minute))
	orphan := newPod(job, "orphan", corev1.PodRunning, func(p *corev1.Pod) { p.OwnerReferences, p.Finalizers = nil, nil })
	stray := newPod(job, "stray", corev1.PodRunning, func(p *corev1.Pod) { p.Labels = map[string]string{"other": "x"} })
	f := newFixture(t, job, orphan, stray)
	f.sync(job)
	f.wantActions("patch pods stray", "get jobs j", "patch pods orphan", "update jobs/status")
	wantAdopt := `{"metadata":{"uid":"uid-orphan","ownerReferences":[{"apiVersion":"batch/v1","blockOwnerDeletion":true,"controller":true,"kind":"Job","name":"j","uid":"job-uid-j"}],"finalizers":["batch.kubernetes.io/job-tracking"]}}`
	if diff := cmp.Diff([]string{wantAdopt}, f.patches("orphan")); diff != "" {
		t.Errorf("adopt patch (-want +got):\n%s", diff)
	}
	wantRelease := `{"metadata":{"uid":"uid-stray","ownerReferences":[{"$patch":"delete","uid":"job-uid-j"}],"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}`
	if diff := cmp.Diff([]string{wantRelease}, f.patches("stray")); diff != "" {
		t.Errorf("release patch (-want +got):\n%s", diff)
	}
	if st := f.lastStatus(); st.Active != 1 {
		t.Errorf("active = %d, want 1 (the adopted pod)", st.Active)
	}
}

func TestController_Sync_DeletingJobCreatesNoPodsAndFreesPods(t *testing.T) {
	t.Parallel()
	job := newJob("j", 2, 2, started(time.Minute), func(j *batchv1.Job) { j.DeletionTimestamp = &metav1.Time{Time: testNow} })
	f := newFixture(t, job, newPod(job, "p", corev1.PodRunning))
	f.sync(job)
	f.wantActions("update jobs/status", "patch pods p")
	if diff := cmp.Diff([]string{wantFinalizerPatch}, f.patches("p")); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
}

func TestController_SyncOrphanPod_RemovesFinalizer(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 1)
	orphan := newPod(job, "orphan", corev1.PodSucceeded, func(p *corev1.Pod) { p.OwnerReferences = nil })
	f := newFixture(t, orphan)
	if err := f.ctrl.syncOrphanPod(context.Background(), keyOf(orphan)); err != nil {
		t.Fatal(err)
	}
	f.wantActions("patch pods orphan")
}

func TestController_Sync_DeletesExcessPods(t *testing.T) {
	t.Parallel()
	job := newJob("j", 1, 5, started(time.Minute))
	f := newFixture(t, job, newPod(job, "ready", corev1.PodRunning, withReady()),
		newPod(job, "pending1", corev1.PodPending), newPod(job, "pending2", corev1.PodPending))
	f.sync(job)
	// The not-ready, unscheduled pods go first; their finalizer goes before
	// the delete so they are not counted as failures.
	f.wantActions("patch pods pending1", "patch pods pending2", "delete pods pending1", "delete pods pending2", "update jobs/status")
	if diff := cmp.Diff(counters{Active: 1, Ready: 1, Terminating: 2}, countersOf(f.lastStatus())); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}
