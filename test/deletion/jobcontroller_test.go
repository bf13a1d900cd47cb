package deletion

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// barrierJob creates a Job and waits until the Job controller has given it a
// pod and written its status: proof that the controller has worked through
// the events queued before it.
func (e *env) barrierJob(name string) {
	e.t.Helper()
	job := e.createJob(pendingJob(name))
	e.waitJobPods(job, 1)
	e.waitJob(name, "status.active 1", func(j *batchv1.Job) bool { return j.Status.Active == 1 })
}

// Checklist 90: while a Job has a deletionTimestamp (held by a custom
// finalizer after an orphaning delete) the controller creates no pods, even
// once its pod is gone.
func TestJobController_DeletingJob_NoNewPods(t *testing.T) {
	e := setup(t, "held")
	spec := pendingJob("held")
	spec.Finalizers = []string{holdFinalizer}
	job := e.createJob(spec)
	pod := e.waitJobPods(job, 1)[0]

	r := e.do("DELETE", e.jobsPath()+"/held", "")
	r.expectCode(t, "plain DELETE of a held job", 200)
	expectMarkedJob(t, r, []string{holdFinalizer, "orphan"})
	e.waitJob("held", "orphan finalizer removed by the garbage collector", func(j *batchv1.Job) bool {
		return slices.Equal(j.Finalizers, []string{holdFinalizer})
	})
	e.poll("pod orphaned and released", func() (bool, error) {
		p, err := e.getPod(pod.Name)
		if err != nil {
			return false, err
		}
		return len(p.OwnerReferences) == 0 && len(p.Finalizers) == 0, nil
	})
	if err := e.ts.Client.CoreV1().Pods(e.ns).Delete(e.ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the orphaned pod: %v", err)
	}
	e.waitGone("pods", pod.Name)
	// The sync that sees the pod gone writes active 0; had it created a
	// pod, the same write would count it.
	e.waitJob("held", "status.active 0", func(j *batchv1.Job) bool { return j.Status.Active == 0 })
	// Poke the held Job so the controller syncs it again.
	if _, err := e.patch("jobs", "held", types.MergePatchType, `{"metadata":{"annotations":{"poke":"1"}}}`); err != nil {
		t.Fatalf("annotating the held job: %v", err)
	}
	e.barrierJob("barrier")

	if pods := e.jobPods(job); len(pods) != 0 {
		t.Errorf("job being deleted got %d new pods: %s", len(pods), pods[0].Name)
	}
	got, err := e.getJob("held")
	if err != nil {
		t.Fatalf("held job: %v", err)
	}
	if got.Status.Active != 0 {
		t.Errorf("held job status.active %d, want 0", got.Status.Active)
	}
}

// Checklist 94: a Job created suspended has Suspended=True and no pods;
// resuming sets Suspended=False, startTime and creates pods.
func TestJobController_Suspend_Resume(t *testing.T) {
	e := setup(t, "suspend")
	spec := pendingJob("sus")
	spec.Spec.Suspend = ptr(true)
	job := e.createJob(spec)

	got := e.waitJob("sus", "Suspended condition", func(j *batchv1.Job) bool {
		return findCondition(j, batchv1.JobSuspended) != nil
	})
	expectCondition(t, got, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended")
	if got.Status.StartTime != nil {
		t.Errorf("suspended job has startTime %v", got.Status.StartTime)
	}
	if pods := e.jobPods(job); len(pods) != 0 {
		t.Errorf("suspended job has %d pods", len(pods))
	}

	if _, err := e.patch("jobs", "sus", types.MergePatchType, `{"spec":{"suspend":false}}`); err != nil {
		t.Fatalf("resuming: %v", err)
	}
	got = e.waitJob("sus", "Suspended=False", func(j *batchv1.Job) bool {
		c := findCondition(j, batchv1.JobSuspended)
		return c != nil && c.Status == corev1.ConditionFalse
	})
	expectCondition(t, got, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed")
	if got.Status.StartTime == nil {
		t.Errorf("resumed job has no startTime")
	}
	e.waitJobPods(job, 1)
}

// Checklist 95: the pods of an Indexed Job.
func TestJobController_Indexed_PodShape(t *testing.T) {
	e := setup(t, "indexed")
	spec := pendingJob("idx")
	spec.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	spec.Spec.Completions, spec.Spec.Parallelism = ptr[int32](3), ptr[int32](3)
	job := e.createJob(spec)
	pods := e.waitJobPods(job, 3)

	seen := map[string]bool{}
	for _, p := range pods {
		idx := p.Labels[batchv1.JobCompletionIndexAnnotation]
		seen[idx] = true
		if !regexp.MustCompile(`^idx-` + regexp.QuoteMeta(idx) + `-[a-z0-9]{5}$`).MatchString(p.Name) {
			t.Errorf("pod name %q, want idx-%s-xxxxx", p.Name, idx)
		}
		if p.GenerateName != fmt.Sprintf("idx-%s-", idx) {
			t.Errorf("pod %s generateName %q, want idx-%s-", p.Name, p.GenerateName, idx)
		}
		if p.Spec.Hostname != "idx-"+idx {
			t.Errorf("pod %s hostname %q, want idx-%s", p.Name, p.Spec.Hostname, idx)
		}
		if got := p.Annotations[batchv1.JobCompletionIndexAnnotation]; got != idx {
			t.Errorf("pod %s index annotation %q, label %q", p.Name, got, idx)
		}
		want := []corev1.EnvVar{{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			APIVersion: "v1", FieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']",
		}}}}
		if diff := cmp.Diff(want, p.Spec.Containers[0].Env); diff != "" {
			t.Errorf("pod %s env (-want +got):\n%s", p.Name, diff)
		}
	}
	if diff := cmp.Diff(map[string]bool{"0": true, "1": true, "2": true}, seen); diff != "" {
		t.Errorf("completion indexes (-want +got):\n%s", diff)
	}
}

// Checklist 96: the built-in controller leaves a Job managed by another
// controller alone: no pods, no status.
func TestJobController_ManagedBy_Skipped(t *testing.T) {
	e := setup(t, "managed")
	spec := pendingJob("ext")
	spec.Spec.ManagedBy = ptr("example.com/x")
	job := e.createJob(spec)
	e.barrierJob("barrier")
	if _, err := e.patch("jobs", "ext", types.MergePatchType, `{"metadata":{"annotations":{"poke":"1"}}}`); err != nil {
		t.Fatalf("annotating: %v", err)
	}
	e.barrierJob("barrier2")

	if pods := e.jobPods(job); len(pods) != 0 {
		t.Errorf("externally managed job got %d pods", len(pods))
	}
	got, err := e.getJob("ext")
	if err != nil {
		t.Fatalf("getting ext: %v", err)
	}
	if diff := cmp.Diff(batchv1.JobStatus{}, got.Status); diff != "" {
		t.Errorf("externally managed job status (-want +got):\n%s", diff)
	}
}

// expectCondition checks one Job condition's status, reason and message.
func expectCondition(t *testing.T, job *batchv1.Job, typ batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) {
	t.Helper()
	c := findCondition(job, typ)
	if c == nil {
		t.Errorf("job %s has no %s condition; conditions %+v", job.Name, typ, job.Status.Conditions)
		return
	}
	if c.Status != status || c.Reason != reason || c.Message != message {
		t.Errorf("job %s condition %s = %s/%s/%q, want %s/%s/%q", job.Name, typ, c.Status, c.Reason, c.Message, status, reason, message)
	}
}
