package deletion

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// seedNamespace is the namespace of the seed page's example.
const seedNamespace = "namespace-test"

// seedJob is the seed page's `pi` Job (/work/shared/seed), with the command
// Debian's perl can run and a nodeSelector that keeps its pod Pending.
func seedJob() *batchv1.Job {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Labels: map[string]string{"app": "test2"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr[int32](6), Completions: ptr[int32](1), Parallelism: ptr[int32](1),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Name: "pi", Annotations: map[string]string{"cri.cci.io/container-type": "secure-container"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "pi", Image: "perl", ImagePullPolicy: corev1.PullAlways,
						Command:   []string{"perl", "-MMath::BigFloat", "-le", "print Math::BigFloat->bpi(2000)"},
						Resources: corev1.ResourceRequirements{Limits: res, Requests: res},
					}},
					DNSPolicy:        corev1.DNSClusterFirst,
					ImagePullSecrets: []corev1.LocalObjectReference{{Name: "imagepull-secret"}},
					RestartPolicy:    corev1.RestartPolicyNever,
					NodeSelector:     map[string]string{absentLabel: "true"},
				},
			},
		},
	}
}

// createSeedJob creates pi and waits for its pod and status.active 1, as in
// the seed's response example.
func (e *env) createSeedJob() (*batchv1.Job, corev1.Pod) {
	e.t.Helper()
	job := e.createJob(seedJob())
	pod := e.waitJobPods(job, 1)[0]
	e.waitJob("pi", "status.active 1", func(j *batchv1.Job) bool { return j.Status.Active == 1 })
	return job, pod
}

// The seed's first request example: Orphan with gracePeriodSeconds 0.
func TestSeed_DeleteJob_OrphanGracePeriodZero(t *testing.T) {
	e := setup(t, seedNamespace)
	job, pod := e.createSeedJob()
	jobEvents := e.watchJobs()

	r := e.do("DELETE", e.jobsPath()+"/pi", `{"apiVersion":"v1","gracePeriodSeconds":0,"kind":"DeleteOptions","propagationPolicy":"Orphan"}`)
	r.expectCode(t, "DELETE Orphan", 200)
	r.expectWarning(t, "DELETE Orphan", false)
	got := expectMarkedJob(t, r, []string{"orphan"})
	if got.Name != "pi" || got.Namespace != seedNamespace || got.UID != job.UID {
		t.Errorf("body is job %s/%s uid %s, want %s/pi uid %s", got.Namespace, got.Name, got.UID, seedNamespace, job.UID)
	}
	if diff := cmp.Diff(map[string]string{"app": "test2"}, got.Labels); diff != "" {
		t.Errorf("body labels (-want +got):\n%s", diff)
	}
	if got.Status.Active != 1 || got.Generation != job.Generation+1 {
		t.Errorf("body status.active %d generation %d, want 1 and %d", got.Status.Active, got.Generation, job.Generation+1)
	}

	e.waitDeleted(jobEvents, "job", "pi")
	e.poll("pod kept without ownerReference and finalizers", func() (bool, error) {
		p, err := e.getPod(pod.Name)
		if err != nil {
			return false, err
		}
		return len(p.OwnerReferences) == 0 && len(p.Finalizers) == 0, nil
	})
	kept, err := e.getPod(pod.Name)
	if err != nil {
		t.Fatalf("orphaned pod: %v", err)
	}
	if kept.DeletionTimestamp != nil || kept.Labels["job-name"] != "pi" || kept.Labels["controller-uid"] != string(job.UID) {
		t.Errorf("orphaned pod deletionTimestamp %v labels %v, want unset and the job labels kept", kept.DeletionTimestamp, kept.Labels)
	}
}

// The seed's second request example: Foreground. The Job stays, with
// foregroundDeletion, until its pods are gone.
func TestSeed_DeleteJob_Foreground(t *testing.T) {
	e := setup(t, seedNamespace)
	_, pod := e.createSeedJob()
	podEvents, jobEvents := e.watchPods(), e.watchJobs()

	r := e.do("DELETE", e.jobsPath()+"/pi", `{"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Foreground"}`)
	r.expectCode(t, "DELETE Foreground", 200)
	r.expectWarning(t, "DELETE Foreground", false)
	expectMarkedJob(t, r, []string{"foregroundDeletion"})

	jobDeleted := e.waitDeleted(jobEvents, "job", "pi")
	podDeleted := e.waitDeleted(podEvents, "pod", pod.Name)
	if podDeleted.RV > jobDeleted.RV {
		t.Errorf("job DELETED at rv %d before its pod (rv %d)", jobDeleted.RV, podDeleted.RV)
	}
	for _, ev := range jobEvents.of("pi") {
		if ev.Type == watch.Modified && (ev.Obj.GetDeletionTimestamp() == nil || !slices.Contains(ev.Obj.GetFinalizers(), "foregroundDeletion")) {
			t.Errorf("job MODIFIED at rv %d without deletionTimestamp or foregroundDeletion: %q", ev.RV, ev.Obj.GetFinalizers())
		}
	}
}

// The seed's third request example: Background. The Job is gone at once,
// its pods follow.
func TestSeed_DeleteJob_Background(t *testing.T) {
	e := setup(t, seedNamespace)
	job, pod := e.createSeedJob()
	podEvents := e.watchPods()

	r := e.do("DELETE", e.jobsPath()+"/pi", `{"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Background"}`)
	r.expectCode(t, "DELETE Background", 200)
	r.expectWarning(t, "DELETE Background", false)
	expectSuccessStatus(t, r, job)
	if _, err := e.getJob("pi"); !isNotFound(err) {
		t.Fatalf("GET pi right after a Background delete: err %v, want NotFound", err)
	}
	e.waitDeleted(podEvents, "pod", pod.Name)
}

// The Warning header of spec §4.2, on deletes of the seed Job that name no
// propagation policy.
func TestJobDelete_WarningHeader_DefaultOrphan(t *testing.T) {
	e := setup(t, seedNamespace)
	for name, req := range map[string]struct{ query, body string }{
		"no options":                 {},
		"gracePeriodSeconds=0 alone": {query: "?gracePeriodSeconds=0"},
		"empty body":                 {body: "{}"},
	} {
		t.Run(name, func(t *testing.T) {
			e.createSeedJob()
			r := e.do("DELETE", e.jobsPath()+"/pi"+req.query, req.body)
			r.expectCode(t, "DELETE", 200)
			expectMarkedJob(t, r, []string{"orphan"})
			e.waitGone("jobs", "pi")
			e.deleteOrphans()
			if len(r.Header.Values("Warning")) == 0 {
				t.Fatal("server bug: no Warning header on a Job delete without propagation policy (warning.AddWarning is called in internal/apiserver/delete.go but no warning recorder is installed in the request context)")
			}
			r.expectWarning(t, "DELETE", true)
		})
	}
}

// deleteOrphans deletes the pods left without owner by an orphaning delete.
func (e *env) deleteOrphans() {
	e.t.Helper()
	list, err := e.ts.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("listing pods: %v", err)
	}
	for _, p := range list.Items {
		if len(p.OwnerReferences) != 0 || strings.HasPrefix(p.Name, "keep") {
			continue
		}
		if err := e.ts.Client.CoreV1().Pods(e.ns).Delete(e.ctx, p.Name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
			e.t.Fatalf("deleting orphan %s: %v", p.Name, err)
		}
		e.waitGone("pods", p.Name)
	}
}
