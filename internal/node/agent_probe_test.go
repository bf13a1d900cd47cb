package node_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// execProbe is a fast probe running cmd: every second, one failure or
// success flips it.
func execProbe(cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
		PeriodSeconds: 1, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 1}
}

// flagPod is a busybox pod sleeping with the host directory dir at /flag,
// so that the test decides when a probe's file appears.
func flagPod(name string, policy corev1.RestartPolicy, dir string) *corev1.Pod {
	pod := testPod(name, policy, shC("main", "exec sleep 600"))
	pod.Spec.Volumes = []corev1.Volume{{Name: "flag", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "flag", MountPath: "/flag"}}
	return pod
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func mainStatus(p *corev1.Pod) corev1.ContainerStatus {
	if len(p.Status.ContainerStatuses) == 0 {
		return corev1.ContainerStatus{}
	}
	return p.Status.ContainerStatuses[0]
}

func started(cs corev1.ContainerStatus) bool { return cs.Started != nil && *cs.Started }

func TestAgent_Process_ReadinessProbeGatesReady(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := flagPod("readiness", corev1.RestartPolicyAlways, dir)
	pod.Spec.Containers[0].ReadinessProbe = execProbe("test", "-f", "/flag/ready")
	e.create(t, pod)
	badPort := testPod("readiness-bad-port", corev1.RestartPolicyAlways, shC("main", "exec sleep 600"))
	badPort.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("nope")}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
	e.create(t, badPort)
	notReady := func(p *corev1.Pod) bool {
		cs, ready, ctrs := mainStatus(p), podCondition(p, corev1.PodReady), podCondition(p, corev1.ContainersReady)
		return p.Status.Phase == corev1.PodRunning && cs.State.Running != nil && started(cs) && !cs.Ready &&
			ready.Status == corev1.ConditionFalse && ready.Reason == "ContainersNotReady" &&
			ready.Message == "containers with unready status: [main]" && ctrs.Status == corev1.ConditionFalse
	}
	e.waitPod(t, "readiness", 30*time.Second, notReady)
	testPollEvent(t, e, "readiness", "Unhealthy", "Readiness probe failed: ")
	testPollEvent(t, e, "readiness-bad-port", "Unhealthy", `Readiness probe errored and resulted in unknown state: strconv.Atoi: parsing "nope": invalid syntax`)
	if got := e.waitPod(t, "readiness-bad-port", time.Second, phaseIs(corev1.PodRunning)); mainStatus(got).Ready {
		t.Errorf("a probe that cannot run made the container ready: %s", describe(got))
	}

	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, "readiness", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).Ready && podCondition(p, corev1.PodReady).Status == corev1.ConditionTrue &&
			podCondition(p, corev1.ContainersReady).Status == corev1.ConditionTrue
	})
	if cs := mainStatus(got); cs.RestartCount != 0 {
		t.Errorf("a failing readiness probe restarted the container: %s", describe(got))
	}

	if err := os.Remove(filepath.Join(dir, "ready")); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "readiness", 30*time.Second, notReady)
}

func TestAgent_Process_HTTPReadinessProbe_ContainerServesAfterAFile(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testserver.FreePort(t)
	pod := flagPod("http-ready", corev1.RestartPolicyAlways, dir)
	c := &pod.Spec.Containers[0]
	c.Command = []string{"sh", "-c", "while [ ! -f /flag/go ]; do sleep 0.1; done; exec httpd -f -p 127.0.0.1:" + strconv.Itoa(port) + " -h /flag"}
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/index.html", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 2, FailureThreshold: 1}
	e.create(t, pod)
	e.waitPod(t, "http-ready", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).State.Running != nil && !mainStatus(p).Ready
	})
	testPollEvent(t, e, "http-ready", "Unhealthy", "Readiness probe failed: Get \"http://127.0.0.1:"+strconv.Itoa(port)+"/index.html\": dial tcp")

	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "http-ready", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).Ready && podCondition(p, corev1.PodReady).Status == corev1.ConditionTrue
	})
}

func TestAgent_Process_LivenessProbeFailureRestarts(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	var healthy atomic.Bool
	var probes atomic.Int32
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "kube-probe/1.37" && r.URL.Path == "/healthz" {
			probes.Add(1)
		}
		if !healthy.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	portNum, _ := strconv.Atoi(port)
	pod := testPod("liveness", corev1.RestartPolicyAlways, shC("main", "exec sleep 600"))
	c := &pod.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(portNum)}}
	// sleep as PID 1 ignores SIGTERM: the kill takes the whole grace, the
	// probe's (1s, raised to the kubelet's minimum of 2s), not the pod's.
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 2, TerminationGracePeriodSeconds: ptr.To[int64](1)}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](60)
	e.create(t, pod)
	e.waitPod(t, "liveness", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).Ready && probes.Load() >= 2
	})
	if got := e.waitPod(t, "liveness", time.Second, phaseIs(corev1.PodRunning)); mainStatus(got).RestartCount != 0 {
		t.Fatalf("restarted while healthy: %s", describe(got))
	}

	healthy.Store(false)
	got := e.waitPod(t, "liveness", 20*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).RestartCount >= 1 && mainStatus(p).State.Running != nil
	})
	last := mainStatus(got).LastTerminationState.Terminated
	if last == nil || (last.ExitCode != 143 && last.ExitCode != 137) || last.Reason != "Error" {
		t.Errorf("last state = %+v, want terminated by SIGTERM or SIGKILL", last)
	}
	testPollEvent(t, e, "liveness", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")
	killing := pollContainerEvent(t, e, "liveness", "Killing")
	if killing.Message != "Container main failed liveness probe, will be restarted" || killing.Type != corev1.EventTypeNormal ||
		killing.InvolvedObject.FieldPath != "spec.containers{main}" {
		t.Errorf("Killing event = %s %q on %q", killing.Type, killing.Message, killing.InvolvedObject.FieldPath)
	}
}

// pollContainerEvent waits for an event of pod with reason and returns it.
func pollContainerEvent(t *testing.T, e *testEnv, pod, reason string) corev1.Event {
	t.Helper()
	return pollEvent(t, e, func(ev corev1.Event) bool { return ev.InvolvedObject.Name == pod && ev.Reason == reason })
}

// pollEvent returns the first event of the test namespace that match
// accepts, failing after 30 s.
func pollEvent(t *testing.T, e *testEnv, match func(corev1.Event) bool) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := e.client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no matching event within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgent_Process_LivenessFailureWithRestartNeverFailsThePod(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("liveness-never", corev1.RestartPolicyNever, shC("main", "exec sleep 600"))
	pod.Spec.Containers[0].LivenessProbe = execProbe("false")
	e.create(t, pod)
	got := e.waitPod(t, "liveness-never", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	term := terminated(got, "main")
	if got.Status.Phase != corev1.PodFailed || term == nil || (term.ExitCode != 143 && term.ExitCode != 137) || mainStatus(got).RestartCount != 0 {
		t.Errorf("pod: %s", describe(got))
	}
	if ev := pollContainerEvent(t, e, "liveness-never", "Killing"); ev.Message != "Container main failed liveness probe" {
		t.Errorf("Killing event message = %q", ev.Message)
	}
}

func TestAgent_Process_StartupProbeDelaysReadinessAndLiveness(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := flagPod("startup", corev1.RestartPolicyAlways, dir)
	c := &pod.Spec.Containers[0]
	c.StartupProbe = execProbe("test", "-f", "/flag/started")
	c.StartupProbe.FailureThreshold = 600
	c.ReadinessProbe = execProbe("true")
	// Would kill the container at once if it ran before the startup probe passed.
	c.LivenessProbe = execProbe("test", "-f", "/flag/started")
	e.create(t, pod)
	e.waitPod(t, "startup", 30*time.Second, func(p *corev1.Pod) bool {
		cs := mainStatus(p)
		return cs.State.Running != nil && cs.Started != nil && !*cs.Started && !cs.Ready &&
			podCondition(p, corev1.PodReady).Reason == "ContainersNotReady"
	})
	testPollEvent(t, e, "startup", "Unhealthy", "Startup probe failed: ")

	if err := os.WriteFile(filepath.Join(dir, "started"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := e.waitPod(t, "startup", 30*time.Second, func(p *corev1.Pod) bool {
		return started(mainStatus(p)) && mainStatus(p).Ready && podCondition(p, corev1.PodReady).Status == corev1.ConditionTrue
	})
	if cs := mainStatus(got); cs.RestartCount != 0 {
		t.Errorf("liveness ran before the startup probe passed: %s", describe(got))
	}
}

func TestAgent_FakeRuntime_Probes(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	running := map[string]string{crt.AnnotationFakeDuration: "-1s"}
	failing := map[string]string{crt.AnnotationFakeDuration: "-1s", crt.AnnotationFakeExecExitCode: "1"}
	httpProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}

	ready := testPod("fake-ready", corev1.RestartPolicyAlways, fakeC("main"))
	ready.Annotations = running
	ready.Spec.Containers[0].ReadinessProbe = httpProbe
	e.create(t, ready)
	unready := testPod("fake-unready", corev1.RestartPolicyAlways, fakeC("main"))
	unready.Annotations = failing
	unready.Spec.Containers[0].ReadinessProbe = httpProbe
	e.create(t, unready)
	dead := testPod("fake-dead", corev1.RestartPolicyAlways, fakeC("main"))
	dead.Annotations = failing
	dead.Spec.Containers[0].LivenessProbe = execProbe("true")
	e.create(t, dead)

	e.waitPod(t, "fake-ready", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).Ready && podCondition(p, corev1.PodReady).Status == corev1.ConditionTrue
	})
	e.waitPod(t, "fake-unready", 30*time.Second, func(p *corev1.Pod) bool {
		return mainStatus(p).State.Running != nil && !mainStatus(p).Ready
	})
	testPollEvent(t, e, "fake-unready", "Unhealthy", "Readiness probe failed: ")
	e.waitPod(t, "fake-dead", 30*time.Second, func(p *corev1.Pod) bool { return mainStatus(p).RestartCount >= 1 })
	if got := e.waitPod(t, "fake-unready", time.Second, phaseIs(corev1.PodRunning)); mainStatus(got).RestartCount != 0 {
		t.Errorf("a failing readiness probe restarted the container: %s", describe(got))
	}
}
