package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func initStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// Sidecars (init containers with restartPolicy Always) start in their turn
// and the next init container waits for them to have started; they run
// alongside the containers, restart when they exit, and are stopped once
// the containers are done, in reverse order, without failing the pod.
func TestAgent_Process_Sidecars(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := flagPod("sidecars", corev1.RestartPolicyNever, dir)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5)
	mount := pod.Spec.Containers[0].VolumeMounts
	container := func(name, script string) corev1.Container {
		c := shC(name, script)
		c.VolumeMounts = mount
		return c
	}
	sidecar := func(name, script string) corev1.Container {
		c := container(name, script)
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		return c
	}
	proxy := sidecar("proxy", `trap 'echo proxy-term >> /flag/order; exit 0' TERM; sleep 0.3; echo proxy-up >> /flag/order; while true; do sleep 0.1; done`)
	proxy.StartupProbe = execProbe("grep", "-q", "proxy-up", "/flag/order")
	proxy.StartupProbe.FailureThreshold = 30
	logger := sidecar("logger", `trap 'echo logger-term >> /flag/order; exit 0' TERM; echo logger-up >> /flag/order; while true; do sleep 0.1; done`)
	pod.Spec.InitContainers = []corev1.Container{
		container("setup", "echo setup >> /flag/order"),
		proxy,
		container("after", "echo after >> /flag/order"),
		logger,
		sidecar("flaky", "exit 1"),
	}
	pod.Spec.Containers = []corev1.Container{container("main", "echo main >> /flag/order; while [ ! -f /flag/done ]; do sleep 0.1; done")}
	e.create(t, pod)

	e.waitPod(t, "sidecars", 30*time.Second, func(p *corev1.Pod) bool {
		cs := initStatus(p, "proxy")
		return p.Status.Phase == corev1.PodRunning && mainStatus(p).State.Running != nil &&
			cs.State.Running != nil && cs.Started != nil && *cs.Started && cs.Ready &&
			initStatus(p, "flaky").RestartCount >= 1 && podCondition(p, corev1.PodReady).Status == corev1.ConditionFalse
	})
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, "sidecars", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if got.Status.Phase != corev1.PodSucceeded {
		t.Errorf("pod with sidecars: %s", describe(got))
	}
	for _, name := range []string{"proxy", "logger"} {
		if term := initStatus(got, name).State.Terminated; term == nil || term.ExitCode != 0 {
			t.Errorf("sidecar %s not stopped with SIGTERM: %+v", name, initStatus(got, name).State)
		}
	}
	want := "setup\nproxy-up\nafter\nlogger-up\nmain\nlogger-term\nproxy-term\n"
	if order := readFile(t, filepath.Join(dir, "order")); order != want {
		t.Errorf("order of events:\n%s\nwant:\n%s", order, want)
	}
}

// A deleted pod stops its containers first, its sidecars after.
func TestAgent_Process_SidecarsStopLastOnDeletion(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := flagPod("sidecar-deleted", corev1.RestartPolicyNever, dir)
	pod.Finalizers = []string{holdFinalizer}
	mount := pod.Spec.Containers[0].VolumeMounts
	proxy := shC("proxy", `trap 'echo proxy-term >> /flag/order; exit 0' TERM; while true; do sleep 0.1; done`)
	proxy.RestartPolicy, proxy.VolumeMounts = ptr.To(corev1.ContainerRestartPolicyAlways), mount
	pod.Spec.InitContainers = []corev1.Container{proxy}
	pod.Spec.Containers[0].Command = []string{"sh", "-c", `trap 'sleep 0.5; echo main-term >> /flag/order; exit 0' TERM; while true; do sleep 0.1; done`}
	e.create(t, pod)
	e.waitPod(t, pod.Name, 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).State.Running != nil && initStatus(p, "proxy").State.Running != nil
	})
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, pod.Name, 30*time.Second, deletionConfirmed)
	if order := readFile(t, filepath.Join(dir, "order")); order != "main-term\nproxy-term\n" {
		t.Errorf("stopped in the order %q, want the container, then the sidecar: %s", order, describe(got))
	}
	e.release(t, pod.Name)
}

// shareProcessNamespace: the pod's containers see each other's processes,
// under a pause process as PID 1, as with the kubelet's sandbox.
func TestAgent_Process_ShareProcessNamespace(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("shared-pid", corev1.RestartPolicyNever,
		shC("a", "exec sleep 601"),
		shC("b", `until ps -o args | grep -q '[s]leep 601'; do sleep 0.1; done; echo saw a; echo pid1=$(cat /proc/1/comm); exec sleep 600`))
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	e.create(t, pod)
	testLogContainerContains(t, e, "shared-pid", "b", "saw a\npid1=")
	got := e.logs(t, "shared-pid", &corev1.PodLogOptions{Container: "b"})
	if strings.Contains(got, "pid1=sh") || strings.Contains(got, "pid1=sleep") {
		t.Errorf("PID 1 of the shared namespace is a container's process: %q", got)
	}
	p := e.waitPod(t, "shared-pid", time.Second, phaseIs(corev1.PodRunning))
	if n := len(p.Status.ContainerStatuses); n != 2 {
		t.Errorf("%d container statuses, want the pod's 2 (the namespace's holder is not one)", n)
	}
}
