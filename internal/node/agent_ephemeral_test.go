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

func ephemeralStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range p.Status.EphemeralContainerStatuses {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// addEphemeral adds an ephemeral container as kubectl debug does, through
// pods/ephemeralcontainers.
func (e *testEnv) addEphemeral(t *testing.T, pod string, ec corev1.EphemeralContainer) {
	t.Helper()
	ctx := context.Background()
	p, err := e.client.CoreV1().Pods(e.ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ec.TerminationMessagePolicy == "" {
		ec.TerminationMessagePolicy, ec.ImagePullPolicy = corev1.TerminationMessageReadFile, corev1.PullIfNotPresent
	}
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
	if _, err := e.client.CoreV1().Pods(e.ns).UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("adding ephemeral container %s: %v", ec.Name, err)
	}
}

func debugger(name, script string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: name, Image: "busybox", Command: []string{"sh", "-c", script}}}
}

func TestAgent_Process_EphemeralContainers(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	dir := t.TempDir()
	pod := flagPod("debugged", corev1.RestartPolicyNever, dir)
	pod.Spec.Containers[0].Command = []string{"sh", "-c", "while [ ! -f /flag/done ]; do sleep 0.1; done"}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	e.create(t, pod)
	e.waitPod(t, "debugged", 30*time.Second, phaseIs(corev1.PodRunning))

	e.addEphemeral(t, "debugged", debugger("debugger", "echo debugging; exec sleep 600"))
	got := e.waitPod(t, "debugged", 30*time.Second, func(p *corev1.Pod) bool {
		return ephemeralStatus(p, "debugger").State.Running != nil
	})
	if cs := ephemeralStatus(got, "debugger"); !strings.HasPrefix(cs.ContainerID, "skiff://") || cs.Image != "busybox" || cs.Ready || cs.Started != nil {
		t.Errorf("ephemeral container status = %+v", cs)
	}
	testLogContainerContains(t, e, "debugged", "debugger", "debugging")
	if ev := pollContainerEvent(t, e, "debugged", "Started"); ev.InvolvedObject.FieldPath == "" {
		t.Errorf("Started event without a container: %+v", ev.InvolvedObject)
	}
	pollEvent(t, e, func(ev corev1.Event) bool {
		return ev.Reason == "Started" && ev.InvolvedObject.FieldPath == "spec.ephemeralContainers{debugger}"
	})

	// One that ends on its own stays terminated: ephemeral containers never
	// restart, and do not change the pod's phase.
	e.addEphemeral(t, "debugged", debugger("oneshot", "exit 3"))
	got = e.waitPod(t, "debugged", 30*time.Second, func(p *corev1.Pod) bool {
		return ephemeralStatus(p, "oneshot").State.Terminated != nil
	})
	if term := ephemeralStatus(got, "oneshot").State.Terminated; term.ExitCode != 3 || got.Status.Phase != corev1.PodRunning {
		t.Errorf("after the ephemeral container exited 3: %s, %+v", got.Status.Phase, term)
	}

	// With a target, it sees the target's processes (kubectl debug --target).
	peek := debugger("peek", "ps -o pid,args")
	peek.TargetContainerName = "main"
	e.addEphemeral(t, "debugged", peek)
	testLogContainerContains(t, e, "debugged", "peek", "    1 sh -c while [ ! -f /flag/done ]")

	// When the pod's own containers are done, the ephemeral ones are stopped.
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got = e.waitPod(t, "debugged", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if got.Status.Phase != corev1.PodSucceeded || ephemeralStatus(got, "debugger").State.Terminated == nil {
		t.Errorf("pod done: %s, debugger %+v", got.Status.Phase, ephemeralStatus(got, "debugger").State)
	}
	if rc := ephemeralStatus(got, "oneshot").RestartCount; rc != 0 {
		t.Errorf("ephemeral container restarted %d times", rc)
	}
}

// testLogContainerContains polls pods/log of the container ("" for the
// pod's only one) until it contains want.
func testLogContainerContains(t *testing.T, e *testEnv, pod, container, want string) {
	t.Helper()
	path := "/api/v1/namespaces/default/pods/" + pod + "/log"
	if container != "" {
		path += "?container=" + container
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := e.rawGet(t, path)
		if code == 200 && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s/%s: %d %q, want %q", pod, container, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
