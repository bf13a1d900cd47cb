package node_test

import (
	"context"
	"github.com/skiff-sh/skiff/internal/node"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/node/scheduler"
	crt "github.com/skiff-sh/skiff/internal/runtime"
	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestAgent_Run_ShutdownStopsPods(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	rt := crt.NewFake()
	a, err := node.New(node.Config{Client: ts.Client, Runtime: rt, NodeName: testNode, Logger: testLogger(t), ShutdownGracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	<-a.Ready()
	e := &testEnv{ts: ts, client: ts.Client, ns: "default"}
	pod := testPod("long", corev1.RestartPolicyNever, fakeC("main"))
	pod.Annotations = map[string]string{crt.AnnotationFakeDuration: "1h"}
	e.create(t, pod)
	e.waitPod(t, "long", 20*time.Second, phaseIs(corev1.PodRunning))
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
	list, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.State != crt.StateExited || c.Exit == nil || c.Exit.ExitCode != 143 {
			t.Errorf("container after shutdown: %+v", c)
		}
	}
	if len(list) != 1 {
		t.Errorf("containers = %d, want 1", len(list))
	}
}

func TestAgent_WithScheduler_RunsUnboundPod(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	s, err := scheduler.New(scheduler.Config{Client: e.client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-errc })
	pod := testPod("unbound", corev1.RestartPolicyNever, fakeC("main"))
	pod.Spec.NodeName = ""
	pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testNode}
	e.create(t, pod)
	got := e.waitPod(t, "unbound", 20*time.Second, phaseIs(corev1.PodSucceeded))
	if got.Spec.NodeName != testNode {
		t.Errorf("nodeName = %q", got.Spec.NodeName)
	}
	if _, err := e.client.CoreV1().Pods(e.ns).Get(ctx, "unbound", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAgent_Process_RunAsUserAndDefaultHostname(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("whoami", corev1.RestartPolicyNever, shC("main", "id -u; id -g; hostname"))
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptrTo(int64(1000)), RunAsGroup: ptrTo(int64(2000))}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptrTo(int64(1001))}
	e.create(t, pod)
	got := e.waitPod(t, "whoami", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if out := e.logs(t, "whoami", &corev1.PodLogOptions{}); got.Status.Phase != corev1.PodSucceeded || out != "1001\n2000\nwhoami\n" {
		t.Errorf("%s; log %q", describe(got), out)
	}
}

func ptrTo[T any](v T) *T { return &v }
