package deletion

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

func (e *env) jobsPath() string { return "/apis/batch/v1/namespaces/" + e.ns + "/jobs" }

// expectSuccessStatus checks upstream's Status for an immediately deleted
// Job (spec §2): no code, message or reason; details name/group/kind/uid.
func expectSuccessStatus(t *testing.T, r response, job *batchv1.Job) {
	t.Helper()
	want := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Success",
		"details": map[string]any{"name": job.Name, "group": "batch", "kind": "jobs", "uid": string(job.UID)},
	}
	if diff := cmp.Diff(want, r.fields(t)); diff != "" {
		t.Errorf("delete body (-want +got):\n%s", diff)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

// expectMarkedJob decodes a Job body and checks it is marked for deletion
// with exactly the finalizers want.
func expectMarkedJob(t *testing.T, r response, want []string) *batchv1.Job {
	t.Helper()
	var job batchv1.Job
	r.into(t, &job)
	if job.Kind != "Job" || job.APIVersion != "batch/v1" {
		t.Errorf("body kind %q apiVersion %q, want Job batch/v1", job.Kind, job.APIVersion)
	}
	if job.DeletionTimestamp == nil {
		t.Errorf("body has no deletionTimestamp")
	}
	if job.DeletionGracePeriodSeconds == nil || *job.DeletionGracePeriodSeconds != 0 {
		t.Errorf("body deletionGracePeriodSeconds %v, want 0", job.DeletionGracePeriodSeconds)
	}
	if diff := cmp.Diff(want, job.Finalizers); diff != "" {
		t.Errorf("body finalizers (-want +got):\n%s", diff)
	}
	return &job
}

// Checklist 82: Background deletes the Job at once; its pod is then marked
// (MODIFIED, grace 0) and removed (DELETED).
func TestGarbageCollector_Background_JobFirstThenPods(t *testing.T) {
	e := setup(t, "background")
	job := e.createJob(pendingJob("j"))
	pod := e.waitJobPods(job, 1)[0]
	// Let the Job controller's status write for that pod land first, so the
	// watch below sees only what the delete causes.
	testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
		cur, err := e.getJob("j")
		return err == nil && cur.Status.Active == 1, nil
	})
	pods, jobs := e.watchPods(), e.watchJobs()

	r := e.do("DELETE", e.jobsPath()+"/j?propagationPolicy=Background", "")
	r.expectCode(t, "DELETE Background", 200)
	r.expectWarning(t, "DELETE Background", false)
	expectSuccessStatus(t, r, job)
	if _, err := e.getJob("j"); !isNotFound(err) {
		t.Fatalf("GET job right after a Background delete: err %v, want NotFound", err)
	}

	podDeleted := e.waitDeleted(pods, "pod", pod.Name)
	jobDeleted := e.waitDeleted(jobs, "job", "j")
	if got := eventTypes(jobs.of("j")); !slices.Equal(got, []watch.EventType{watch.Deleted}) {
		t.Errorf("job watch events %v, want a single DELETED", got)
	}
	marked := firstMarked(pods.of(pod.Name))
	if marked == nil {
		t.Fatalf("no MODIFIED pod event with a deletionTimestamp before DELETED; events %v", eventTypes(pods.of(pod.Name)))
	}
	if g := marked.Obj.GetDeletionGracePeriodSeconds(); g == nil || *g != 0 {
		t.Errorf("marked pod deletionGracePeriodSeconds %v, want 0", g)
	}
	if !slices.Contains(marked.Obj.GetFinalizers(), trackingFinalizer) {
		// Upstream observed it still there, but the Job controller may strip
		// it before the garbage collector's DELETE; both are correct.
		t.Logf("marked pod no longer carried %s (finalizer removed before the GC's DELETE)", trackingFinalizer)
	}
	if !(jobDeleted.RV < marked.RV && marked.RV < podDeleted.RV) {
		t.Errorf("order: job DELETED rv %d, pod marked rv %d, pod DELETED rv %d; want job first, then pod marked, then pod deleted", jobDeleted.RV, marked.RV, podDeleted.RV)
	}
}

// Checklist 83: a plain DELETE orphans: the pod stays with its labels and
// loses its ownerReference and finalizers; the Job goes.
func TestGarbageCollector_DefaultOrphan_PodsKept(t *testing.T) {
	e := setup(t, "orphan")
	job := e.createJob(pendingJob("j"))
	pod := e.waitJobPods(job, 1)[0]
	jobs := e.watchJobs()

	r := e.do("DELETE", e.jobsPath()+"/j", "")
	r.expectCode(t, "plain DELETE", 200)
	// The Warning header this request carries is checked in
	// TestJobDelete_WarningHeader_DefaultOrphan.
	expectMarkedJob(t, r, []string{"orphan"})

	deleted := e.waitDeleted(jobs, "job", "j")
	if diff := cmp.Diff([]string{"orphan"}, deleted.Obj.GetFinalizers()); diff != "" {
		t.Errorf("job DELETED event finalizers (-want +got):\n%s", diff)
	}
	var got *corev1.Pod
	e.poll("orphaned pod without ownerReferences and finalizers", func() (bool, error) {
		p, err := e.getPod(pod.Name)
		if err != nil {
			return false, err
		}
		got = p
		return len(p.OwnerReferences) == 0 && len(p.Finalizers) == 0, nil
	})
	if got.DeletionTimestamp != nil {
		t.Errorf("orphaned pod has deletionTimestamp %v", got.DeletionTimestamp)
	}
	if diff := cmp.Diff(pod.Labels, got.Labels); diff != "" {
		t.Errorf("orphaned pod labels changed (-before +after):\n%s", diff)
	}
}

// Checklist 84: Foreground keeps the Job with foregroundDeletion until both
// pods are gone; the pods are DELETED before the Job.
func TestGarbageCollector_Foreground_PodsFirstThenJob(t *testing.T) {
	e := setup(t, "foreground")
	spec := pendingJob("j")
	spec.Spec.Parallelism, spec.Spec.Completions = ptr[int32](2), ptr[int32](2)
	job := e.createJob(spec)
	pods := e.waitJobPods(job, 2)
	podEvents, jobEvents := e.watchPods(), e.watchJobs()

	r := e.do("DELETE", e.jobsPath()+"/j?propagationPolicy=Foreground", "")
	r.expectCode(t, "DELETE Foreground", 200)
	r.expectWarning(t, "DELETE Foreground", false)
	expectMarkedJob(t, r, []string{"foregroundDeletion"})

	jobDeleted := e.waitDeleted(jobEvents, "job", "j")
	for _, p := range pods {
		d := e.waitDeleted(podEvents, "pod", p.Name)
		if d.RV > jobDeleted.RV {
			t.Errorf("pod %s DELETED at rv %d after the job (rv %d)", p.Name, d.RV, jobDeleted.RV)
		}
		if len(d.Obj.GetFinalizers()) != 0 && firstMarked(podEvents.of(p.Name)) == nil {
			t.Errorf("pod %s deleted without being marked first", p.Name)
		}
	}
	for _, ev := range jobEvents.of("j") {
		if ev.Type == watch.Modified && !slices.Contains(ev.Obj.GetFinalizers(), "foregroundDeletion") {
			t.Errorf("job MODIFIED at rv %d without foregroundDeletion: %q", ev.RV, ev.Obj.GetFinalizers())
		}
	}
}

// Checklist 85 and 86: with Foreground, a dependent whose reference has
// blockOwnerDeletion false does not hold its owner; one with true does.
// Both dependents are held by a custom finalizer and are marked deleted.
func TestGarbageCollector_Foreground_BlockOwnerDeletion(t *testing.T) {
	e := setup(t, "block")
	owners := map[string]*batchv1.Job{}
	for _, name := range []string{"fga", "fgb"} {
		j := pendingJob(name)
		j.Spec.Suspend = ptr(true)
		owners[name] = e.createJob(j)
	}
	depA := pendingPod("dep-a")
	depA.Finalizers = []string{holdFinalizer}
	depA.OwnerReferences = []metav1.OwnerReference{ownerRef("fga", owners["fga"].UID, false, false)}
	e.createPod(depA)
	depB := pendingPod("dep-b")
	depB.Finalizers = []string{holdFinalizer}
	depB.OwnerReferences = []metav1.OwnerReference{ownerRef("fgb", owners["fgb"].UID, false, true)}
	e.createPod(depB)
	podEvents, jobEvents := e.watchPods(), e.watchJobs()

	for _, name := range []string{"fga", "fgb"} {
		r := e.do("DELETE", e.jobsPath()+"/"+name+"?propagationPolicy=Foreground", "")
		r.expectCode(t, "DELETE "+name, 200)
		expectMarkedJob(t, r, []string{"foregroundDeletion"})
	}

	e.waitDeleted(jobEvents, "job", "fga")
	for _, name := range []string{"dep-a", "dep-b"} {
		e.poll(name+" marked for deletion", func() (bool, error) {
			p, err := e.getPod(name)
			if err != nil {
				return false, err
			}
			return p.DeletionTimestamp != nil, nil
		})
	}
	fgb, err := e.getJob("fgb")
	if err != nil {
		t.Fatalf("fgb must wait for its blocking dependent: %v", err)
	}
	if fgb.DeletionTimestamp == nil || !slices.Equal(fgb.Finalizers, []string{"foregroundDeletion"}) {
		t.Errorf("fgb deletionTimestamp %v finalizers %q, want set and [foregroundDeletion]", fgb.DeletionTimestamp, fgb.Finalizers)
	}

	e.removeFinalizer("pods", "dep-b", holdFinalizer)
	depBDeleted := e.waitDeleted(podEvents, "pod", "dep-b")
	fgbDeleted := e.waitDeleted(jobEvents, "job", "fgb")
	if depBDeleted.RV > fgbDeleted.RV {
		t.Errorf("fgb DELETED (rv %d) before its blocking dependent (rv %d)", fgbDeleted.RV, depBDeleted.RV)
	}
	if a, err := e.getPod("dep-a"); err != nil || a.DeletionTimestamp == nil {
		t.Errorf("dep-a must stay terminating while held: %v", err)
	}
	e.removeFinalizer("pods", "dep-a", holdFinalizer)
	e.waitGone("pods", "dep-a")
}

// firstMarked returns the first MODIFIED event that carries a
// deletionTimestamp, or nil.
func firstMarked(evs []event) *event {
	for _, ev := range evs {
		if ev.Type == watch.Modified && ev.Obj.GetDeletionTimestamp() != nil {
			return &ev
		}
	}
	return nil
}

func eventTypes(evs []event) []watch.EventType {
	out := make([]watch.EventType, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}
