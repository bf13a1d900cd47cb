package jobs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestJob_Features_Process covers the Job features whose behaviour depends
// on real processes (exit codes, signals, grace periods, hostname,
// environment), with the process runtime.
func TestJob_Features_Process(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "process")
	cases := map[string]func(*testing.T, *framework){
		"Indexed_EnvHostnameLabel":            featIndexedEnv,
		"PodFailurePolicy_IgnoreExitCode":     featIgnoreExitCode,
		"PodFailurePolicy_FailJobMessage":     featFailJobMessage,
		"PodReplacement_Failed":               featReplacementFailed,
		"PodReplacement_TerminatingOrFailed":  featReplacementTerminating,
		"GracefulTermination_TrapGetsGrace":   featGraceTrap,
		"GracefulTermination_IgnoredIsKilled": featGraceIgnored,
		"ReadinessProbe_DrivesStatusReady":    featReadinessProbe,
		"Sidecar_DoesNotHoldCompletion":       featSidecar,
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, c.newFramework(t, "job"))
		})
	}
}

// podLogs reads a container's log through pods/log.
func (f *framework) podLogs(pod string) string {
	f.t.Helper()
	b, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: "c"}).DoRaw(f.ctx)
	if err != nil {
		f.t.Fatalf("logs of pod %s: %v", pod, err)
	}
	return string(b)
}

// Indexed pods see their index in JOB_COMPLETION_INDEX, carry it as the
// completion-index annotation and label, and run with hostname <job>-<index>
// in the template's subdomain.
func featIndexedEnv(t *testing.T, f *framework) {
	job := newTestJob("succeed", "indexed-env", corev1.RestartPolicyNever, 3, 3, nil, 6)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Template.Spec.Subdomain = "workers"
	job.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", `echo "$JOB_COMPLETION_INDEX $(hostname)"`}
	job = f.createJob(job)
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, 3)
	var got []string
	for _, p := range f.mustJobPods(job.Name) {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod %s: index label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
		}
		if p.Spec.Hostname != job.Name+"-"+ix || p.Spec.Subdomain != "workers" {
			t.Errorf("pod %s: hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		got = append(got, ix+": "+strings.TrimSpace(f.podLogs(p.Name)))
	}
	sort.Strings(got)
	want := []string{"0: 0 indexed-env-0", "1: 1 indexed-env-1", "2: 2 indexed-env-2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index: log lines (-want +got):\n%s", diff)
	}
}

// "should allow to use a pod failure policy to ignore failure matching on
// exit code": every index fails once with 42, ignored, then succeeds.
func featIgnoreExitCode(t *testing.T, f *framework) {
	const numPods = 3
	node := f.getRandomReadySchedulableNode()
	job := newTestJobOnNode("failOncePerIndex", "fail-pod-ignore-on-exit-code", corev1.RestartPolicyNever, numPods, numPods, nil, numPods-1, node.Name)
	removeHostPath(t, job)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionIgnore,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
	}}}
	job = f.createJob(job)
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, numPods)
	if got := f.getJob(job.Name); got.Status.Failed != 0 {
		t.Errorf("ignored failures were counted: status.failed %d", got.Status.Failed)
	}
}

// A FailJob rule fails the Job with reason PodFailurePolicy and upstream's
// message naming the container, pod, exit code and rule.
func featFailJobMessage(t *testing.T, f *framework) {
	job := newTestJob("fail", "failjob-message", corev1.RestartPolicyNever, 1, 1, nil, 6)
	job.Spec.Template.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "exit 5"}
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0, 1}}},
	}}
	job = f.createJob(job)
	f.waitForJobCondition(job.Name, batchv1.JobFailed, ptr.To(batchv1.JobReasonPodFailurePolicy))
	pods := f.mustJobPods(job.Name)
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	c := findCondition(f.getJob(job.Name).Status.Conditions, batchv1.JobFailed)
	want := fmt.Sprintf("Container c for pod %s/%s failed with exit code 5 matching FailJob rule at index 1", f.ns, pods[0].Name)
	if c.Message != want {
		t.Errorf("Failed condition message\n got %q\nwant %q", c.Message, want)
	}
}

// termCommand traps SIGTERM, takes 5 s to clean up and exits 143, as the
// upstream podReplacementPolicy spec's container does.
var termCommand = []string{"/bin/sh", "-c", `_term(){
	sleep 5
	exit 143
}
trap _term SIGTERM
while true; do
	sleep 1
done`}

// deleteJobPod deletes the Job's only pod with a 30 s grace period, as
// e2epod.DeletePodsWithGracePeriod does.
func (f *framework) deleteJobPod(job string) corev1.Pod {
	f.t.Helper()
	f.waitForJobPodsInPhase(job, 1, corev1.PodRunning)
	pods := f.mustJobPods(job)
	if err := f.cs.CoreV1().Pods(f.ns).Delete(f.ctx, pods[0].Name, *metav1.NewDeleteOptions(30)); err != nil {
		f.t.Fatalf("deleting pod %s: %v", pods[0].Name, err)
	}
	return pods[0]
}

// "should recreate pods only after they have failed if pod replacement
// policy is set to Failed"
func featReplacementFailed(_ *testing.T, f *framework) {
	job := newTestJob("", "pod-recreate-failed", corev1.RestartPolicyNever, 1, 1, nil, 1)
	job.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	job.Spec.Template.Spec.Containers[0].Command = termCommand
	job = f.createJob(job)
	f.deleteJobPod(job.Name)
	f.waitForJobState(job.Name, func(j *batchv1.Job) string {
		if j.Status.Active == 0 && j.Status.Failed == 0 && ptr.Deref(j.Status.Terminating, -1) == 1 {
			return ""
		}
		return "expected 0 active, 0 failed and 1 terminating pods"
	})
	f.waitForJobState(job.Name, func(j *batchv1.Job) string {
		if j.Status.Active == 1 && j.Status.Failed == 1 && ptr.Deref(j.Status.Terminating, -1) == 0 {
			return ""
		}
		return "expected 1 active, 1 failed and 0 terminating pods"
	})
}

// With podReplacementPolicy TerminatingOrFailed (the default), a deleted
// pod counts as failed at once, while it still terminates (and is counted in
// status.terminating); its replacement follows the pod back-off.
func featReplacementTerminating(_ *testing.T, f *framework) {
	job := newTestJob("", "pod-recreate-terminating", corev1.RestartPolicyNever, 1, 1, nil, 1)
	job.Spec.Template.Spec.Containers[0].Command = termCommand
	job = f.createJob(job)
	old := f.deleteJobPod(job.Name)
	f.waitForJobState(job.Name, func(j *batchv1.Job) string {
		if j.Status.Failed == 1 && ptr.Deref(j.Status.Terminating, -1) == 1 {
			return ""
		}
		return "expected the terminating pod counted failed and terminating"
	})
	f.waitForPodNotFound(old.Name)
	f.waitForJobState(job.Name, func(j *batchv1.Job) string {
		if j.Status.Active == 1 && j.Status.Failed == 1 && ptr.Deref(j.Status.Terminating, -1) == 0 {
			return ""
		}
		return "expected 1 active, 1 failed and 0 terminating pods"
	})
}

// A readiness probe decides the Job's status.ready: the running pod is not
// ready until its exec probe finds the file the test creates in a hostPath
// directory, and is counted ready after.
func featReadinessProbe(t *testing.T, f *framework) {
	dir := t.TempDir()
	job := newTestJob("neverTerminate", "readiness", corev1.RestartPolicyNever, 1, 1, nil, 0)
	spec := &job.Spec.Template.Spec
	spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/data/ready"}}},
		PeriodSeconds: 1,
	}
	job = f.createJob(job)
	f.waitForJobPodsInPhase(job.Name, 1, corev1.PodRunning)
	pod := f.mustJobPods(job.Name)[0]
	f.waitForPodCondition(pod.Name, "probed and not ready", func(p *corev1.Pod) (bool, error) {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionFalse && c.Reason == "ContainersNotReady" &&
					len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil, nil
			}
		}
		return false, nil
	})
	if got := f.getJob(job.Name).Status.Ready; got == nil || *got != 0 {
		t.Errorf("status.ready before the probe passes = %v, want 0", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.waitForJobReady(job.Name, ptr.To[int32](1))
}

// A Job's pods with a sidecar (an init container with restartPolicy
// Always, which runs for ever) complete when their own container does:
// the sidecar is stopped then, and does not fail the pod (KEP-753's use
// case).
func featSidecar(t *testing.T, f *framework) {
	job := newTestJob("succeed", "sidecar", corev1.RestartPolicyNever, 2, 2, nil, 0)
	spec := &job.Spec.Template.Spec
	spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Command: []string{"sh", "-c", "exec sleep 3600"}}} // PID 1 ignores SIGTERM: killed after the grace period
	spec.TerminationGracePeriodSeconds = ptr.To[int64](2)
	job = f.createJob(job)
	f.waitForJobComplete(job.Name, batchv1.JobReasonCompletionsReached, 2)
	for _, p := range f.mustJobPods(job.Name) {
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s: phase %s", p.Name, p.Status.Phase)
		}
	}
}
