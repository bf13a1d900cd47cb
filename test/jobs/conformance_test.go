package jobs

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestJob_Conformance runs the behaviour of each of the 14 upstream
// `[sig-apps] Job [Conformance]` specs against one server with the process
// runtime, one namespace per spec, all in parallel.
func TestJob_Conformance(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "process")
	specs := map[string]func(*testing.T, *framework){
		"PodFailurePolicy_FailJobOnExitCode":        specFailJobOnExitCode,
		"PodFailurePolicy_IgnoreDisruptionTarget":   specIgnoreDisruptionTarget,
		"Indexed_CompletionIndexesAndHostname":      specIndexedHostname,
		"SuccessPolicy_AllIndexesSucceeded":         specSuccessPolicyAll,
		"SuccessPolicy_SucceededIndexesRule":        specSuccessPolicyIndexes,
		"SuccessPolicy_SucceededCountRule":          specSuccessPolicyCount,
		"BackoffLimitPerIndex_AllIndexesExecuted":   specBackoffLimitPerIndex,
		"MaxFailedIndexes_TerminatesEarly":          specMaxFailedIndexes,
		"PodFailurePolicy_FailIndex":                specFailIndex,
		"Complete_TasksFailOnceLocallyRestarted":    specLocallyRestarted,
		"Delete_PodsGarbageCollected":               specDeleteJob,
		"Adopt_MatchingOrphans_ReleaseNonMatching":  specAdoptRelease,
		"Status_PatchUpdateGet":                     specApplyStatus,
		"Lifecycle_PatchUpdateListDeleteCollection": specLifecycle,
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec(t, c.newFramework(t, "job"))
		})
	}
	t.Run("SuiteSetup_KubernetesServiceClusterIP", func(t *testing.T) {
		t.Parallel()
		c.expectKubernetesService(t)
	})
}

// expectKubernetesService is what the e2e suite does on every Ginkgo node
// before any spec (setupSuitePerGinkgoNode, getDefaultClusterIPFamily): it
// reads the "kubernetes" Service in "default" and fails the whole run if it
// cannot, or if its ClusterIP is not an IP.
func (c *cluster) expectKubernetesService(t *testing.T) {
	svc, err := c.cs.CoreV1().Services(metav1.NamespaceDefault).Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Failed to get kubernetes service ClusterIP: %v", err)
	}
	if net.ParseIP(svc.Spec.ClusterIP) == nil {
		t.Errorf("kubernetes service ClusterIP %q is not an IP", svc.Spec.ClusterIP)
	}
}

// removeHostPath removes a pinned Job's hostPath directory at the end.
func removeHostPath(t *testing.T, job *batchv1.Job) {
	if hp := job.Spec.Template.Spec.Volumes[0].HostPath; hp != nil {
		t.Cleanup(func() { _ = os.RemoveAll(hp.Path) })
	}
}

// "should allow to use the pod failure policy on exit code to fail the job early"
func specFailJobOnExitCode(t *testing.T, f *framework) {
	node := f.getRandomReadySchedulableNode()
	job := newTestJobOnNode("failOnce", "pod-failure-failjob", corev1.RestartPolicyNever, 2, 4, nil, 6, node.Name)
	removeHostPath(t, job)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
	}}}
	job = f.createJob(job)
	f.waitForJobFailed(job.Name)
}

// "should allow to use a pod failure policy to ignore failure matching on
// DisruptionTarget condition"
func specIgnoreDisruptionTarget(t *testing.T, f *framework) {
	const numPods = 3
	node := f.getRandomReadySchedulableNode()
	job := newTestJobOnNode("notTerminateOncePerIndex", "evicted-pod-ignore-on-disruption-condition", corev1.RestartPolicyNever, numPods, numPods, nil, numPods-1, node.Name)
	removeHostPath(t, job)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
	}}}
	job = f.createJob(job)
	f.waitForJobReady(job.Name, ptr.To[int32](numPods))
	pods := f.getAllRunningJobPods(job.Name)
	if len(pods) != numPods {
		t.Fatalf("Number of running pods doesn't match parallelism: %d", len(pods))
	}
	var wg sync.WaitGroup
	errs := make(chan error, numPods)
	for i := range pods {
		wg.Add(1)
		go func(pod corev1.Pod) {
			defer wg.Done()
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
			if err := f.cs.CoreV1().Pods(pod.Namespace).EvictV1(f.ctx, ev); err != nil {
				errs <- fmt.Errorf("failed to evict the pod: %s/%s: %w", pod.Namespace, pod.Name, err)
				return
			}
			errs <- pollErr(jobTimeout, func() (bool, error) {
				_, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, pod.Name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return true, nil
				}
				return false, err
			})
		}(pods[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, numPods)
}

// "should create pods for an Indexed job with completion indexes and
// specified hostname"
func specIndexedHostname(t *testing.T, f *framework) {
	job := newTestJob("succeed", "indexed-job", corev1.RestartPolicyNever, 2, 4, nil, 6)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job = f.createJob(job)
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, 4)
	var got []int
	for _, pod := range f.mustJobPods(job.Name) {
		if pod.Status.Phase != corev1.PodSucceeded || pod.Annotations == nil {
			continue
		}
		ix, err := strconv.Atoi(pod.Annotations[batchv1.JobCompletionIndexAnnotation])
		if err != nil {
			t.Fatalf("failed obtaining completion index from pod %s: %v", pod.Name, err)
		}
		if !slices.Contains(got, ix) {
			got = append(got, ix)
		}
		if want := fmt.Sprintf("%s-%d", job.Name, ix); pod.Spec.Hostname != want {
			t.Errorf("expected completed pod with hostname %s, but got %s", want, pod.Spec.Hostname)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff([]int{0, 1, 2, 3}, got); diff != "" {
		t.Errorf("completed indexes (-want +got):\n%s", diff)
	}
}

// expectFinalCounts checks the counters the successPolicy and other specs
// verify at the end: no active, ready or terminating pods.
func expectFinalCounts(t *testing.T, job *batchv1.Job) {
	t.Helper()
	got := []any{job.Status.Active, job.Status.Ready, job.Status.Terminating}
	want := []any{int32(0), ptr.To[int32](0), ptr.To[int32](0)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("active, ready, terminating (-want +got):\n%s", diff)
	}
}

// "with successPolicy should succeeded when all indexes succeeded"
func specSuccessPolicyAll(t *testing.T, f *framework) {
	job := newTestJob("succeeded", "with-success-policy-all-index-succeeded", corev1.RestartPolicyNever, 2, 2, nil, 6)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](2)}}}
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobSuccessCriteriaMet, ptr.To(batchv1.JobReasonSuccessPolicy))
	f.waitForJobComplete(job.Name, batchv1.JobReasonSuccessPolicy, 2)
	job = f.getJob(job.Name)
	expectFinalCounts(t, job)
	if job.Status.Failed != 0 {
		t.Errorf("status.failed %d, want 0", job.Status.Failed)
	}
}

// "with successPolicy succeededIndexes rule should succeeded even when some
// indexes remain pending"
func specSuccessPolicyIndexes(t *testing.T, f *framework) {
	job := newTestJob("failOddSucceedEven", "with-success-policy-succeeded-indexed", corev1.RestartPolicyNever, 2, 5, nil, 6)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobSuccessCriteriaMet, ptr.To(batchv1.JobReasonSuccessPolicy))
	f.waitForJobComplete(job.Name, batchv1.JobReasonSuccessPolicy, 1)
	job = f.getJob(job.Name)
	if job.Status.CompletedIndexes != "0" {
		t.Errorf("completedIndexes %q, want \"0\"", job.Status.CompletedIndexes)
	}
	expectFinalCounts(t, job)
}

// "with successPolicy succeededCount rule should succeeded even when some
// indexes remain pending"
func specSuccessPolicyCount(t *testing.T, f *framework) {
	job := newTestJob("failOddSucceedEven", "with-success-policy-succeeded-count", corev1.RestartPolicyNever, 2, 5, nil, math.MaxInt32)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobSuccessCriteriaMet, ptr.To(batchv1.JobReasonSuccessPolicy))
	f.waitForJobComplete(job.Name, batchv1.JobReasonSuccessPolicy, 1)
	job = f.getJob(job.Name)
	if job.Status.CompletedIndexes != "0" {
		t.Errorf("completedIndexes %q, want \"0\"", job.Status.CompletedIndexes)
	}
	expectFinalCounts(t, job)
}

// indexCounts are the status fields the backoffLimitPerIndex specs check.
type indexCounts struct {
	FailedIndexes, CompletedIndexes string
	Failed, Succeeded               int32
}

func countsOf(job *batchv1.Job) indexCounts {
	return indexCounts{ptr.Deref(job.Status.FailedIndexes, "<nil>"), job.Status.CompletedIndexes, job.Status.Failed, job.Status.Succeeded}
}

// "should execute all indexes despite some failing when using
// backoffLimitPerIndex"
func specBackoffLimitPerIndex(t *testing.T, f *framework) {
	job := newTestJob("failOddSucceedEven", "with-backoff-limit-per-index", corev1.RestartPolicyNever, 2, 4, nil, 6)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job = f.createJob(job)
	f.waitForJobFailed(job.Name)
	want := indexCounts{FailedIndexes: "1,3", CompletedIndexes: "0,2", Failed: 4, Succeeded: 2}
	if diff := cmp.Diff(want, countsOf(f.getJob(job.Name))); diff != "" {
		t.Errorf("job status (-want +got):\n%s", diff)
	}
}

// "should terminate job execution when the number of failed indexes exceeds
// maxFailedIndexes"
func specMaxFailedIndexes(t *testing.T, f *framework) {
	job := newTestJob("fail", "with-max-failed-indexes", corev1.RestartPolicyNever, 1, 4, nil, 6)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](0)
	job.Spec.MaxFailedIndexes = ptr.To[int32](0)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job = f.createJob(job)
	f.waitForJobFailed(job.Name)
	got := f.getJob(job.Name)
	if diff := cmp.Diff([]any{"0", int32(1)}, []any{ptr.Deref(got.Status.FailedIndexes, "<nil>"), got.Status.Failed}); diff != "" {
		t.Errorf("failedIndexes, failed (-want +got):\n%s", diff)
	}
}

// "should mark indexes as failed when the FailIndex action is matched in
// podFailurePolicy"
func specFailIndex(t *testing.T, f *framework) {
	job := newTestJob("failOddSucceedEven", "matching-fail-index-action", corev1.RestartPolicyNever, 2, 2, nil, 6)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailIndex,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
	}}}
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job = f.createJob(job)
	f.waitForJobFailed(job.Name)
	want := indexCounts{FailedIndexes: "1", CompletedIndexes: "0", Failed: 1, Succeeded: 1}
	if diff := cmp.Diff(want, countsOf(f.getJob(job.Name))); diff != "" {
		t.Errorf("job status (-want +got):\n%s", diff)
	}
}

// "should run a job to completion when tasks sometimes fail and are locally
// restarted"
func specLocallyRestarted(_ *testing.T, f *framework) {
	job := f.createJob(newTestJob("failOnce", "fail-once-local", corev1.RestartPolicyOnFailure, 2, 4, nil, 6))
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, 4)
}

// "should delete a job"
func specDeleteJob(t *testing.T, f *framework) {
	job := f.createJob(newTestJob("notTerminate", "foo", corev1.RestartPolicyNever, 2, 4, nil, 6))
	f.waitForJobPodsInPhase(job.Name, 2, corev1.PodRunning)
	f.deleteJobAndWaitForGC(job.Name)
	_, err := f.cs.BatchV1().Jobs(f.ns).Get(f.ctx, job.Name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("failed to ensure job %s was deleted in namespace: %s: got %v", job.Name, f.ns, err)
	}
}

// "should adopt matching orphans and release non-matching pods"
func specAdoptRelease(t *testing.T, f *framework) {
	job := newTestJob("notTerminate", "adopt-release", corev1.RestartPolicyNever, 2, 4, nil, 6)
	kind := job.Kind
	job = f.createJob(job)
	job.Kind = kind
	f.waitForJobPodsInPhase(job.Name, 2, corev1.PodRunning)
	pods := f.mustJobPods(job.Name)
	if len(pods) != 2 {
		t.Fatalf("job has %d pods, want 2", len(pods))
	}
	pod := pods[0]
	f.updatePod(pod.Name, func(p *corev1.Pod) { p.OwnerReferences = nil })
	f.waitForPodCondition(pod.Name, "adopted", func(p *corev1.Pod) (bool, error) {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			return false, nil
		}
		if ref.Kind != job.Kind || ref.Name != job.Name || ref.UID != job.UID {
			return false, fmt.Errorf("pod has wrong controllerRef: got %v, want %s %s %s", ref, job.Kind, job.Name, job.UID)
		}
		return true, nil
	})
	f.updatePod(pod.Name, func(p *corev1.Pod) { p.Labels = nil })
	f.waitForPodCondition(pod.Name, "released", func(p *corev1.Pod) (bool, error) {
		return metav1.GetControllerOf(p) == nil, nil
	})
}
