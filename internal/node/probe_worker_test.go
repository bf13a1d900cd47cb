package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// scriptedRuntime is a fake runtime whose ExecSync exits with codes in
// order (the last one repeats) and says which call it was.
type scriptedRuntime struct {
	*crt.Fake
	// mu guards calls.
	mu    sync.Mutex
	codes []int32
	calls int
}

func (r *scriptedRuntime) ExecSync(context.Context, crt.ContainerID, []string, time.Duration) (crt.ExecResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	code := r.codes[min(r.calls, len(r.codes)-1)]
	r.calls++
	return crt.ExecResult{ExitCode: code, Output: fmt.Appendf(nil, "call %d", r.calls)}, nil
}

func (r *scriptedRuntime) execCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// probeFixture is a pod worker with one running container "main" on a
// scripted runtime, a fake clock and a fake recorder.
type probeFixture struct {
	w        *podWorker
	st       *ctrState
	rt       *scriptedRuntime
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	set      *probeSet
}

func newProbeFixture(t *testing.T, codes ...int32) *probeFixture {
	t.Helper()
	rt := &scriptedRuntime{Fake: crt.NewFake(), codes: codes}
	clk := testingclock.NewFakeClock(time.Now())
	f := &probeFixture{rt: rt, clock: clk, recorder: record.NewFakeRecorder(100)}
	a := &Agent{cfg: Config{NodeIP: "127.0.0.1"}, clock: clk, rt: rt, prober: newProber(rt), recorder: f.recorder,
		logger:      slog.New(slog.DiscardHandler),
		statusQueue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName]())}
	t.Cleanup(a.statusQueue.ShutDown)
	grace := int64(1)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "uid"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "main"}}}}
	f.w = newPodWorker(a, pod)
	id, err := rt.StartContainer(context.Background(), crt.ContainerSpec{PodUID: "uid", Name: "main", Fake: crt.FakeBehavior{Duration: -1}})
	if err != nil {
		t.Fatal(err)
	}
	f.st = f.w.ctrStates[0]
	f.st.id, f.st.state = id, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	f.st.started, f.st.ready = true, false
	f.set = &probeSet{cancel: func() {}, readinessTrigger: make(chan struct{}, 1)}
	return f
}

func (f *probeFixture) worker(kind probeKind, spec *corev1.Probe) *probeWorker {
	c := &f.w.latest().Spec.Containers[0]
	return &probeWorker{w: f.w, st: f.st, set: f.set, kind: kind, spec: spec, startedAt: f.clock.Now(),
		target: probeTarget{id: f.st.id, c: c, podIP: "127.0.0.1"}}
}

func (f *probeFixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func execSpec(success, failure int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: success, FailureThreshold: failure}
}

func TestProbeWorker_ProbeOnce_ReadinessThresholds(t *testing.T) {
	t.Parallel()
	f := newProbeFixture(t, 0, 0, 1, 1, 0, 0)
	pw := f.worker(probeReadiness, execSpec(2, 2))
	var ready []bool
	for range 6 {
		if !pw.probeOnce(context.Background()) {
			t.Fatalf("the readiness worker stopped")
		}
		ready = append(ready, f.st.ready)
	}
	// Two successes make it ready, two failures unready, two successes ready again.
	if diff := cmp.Diff([]bool{false, true, true, false, false, true}, ready); diff != "" {
		t.Errorf("ready after each probe (-want +got):\n%s", diff)
	}
	want := []string{"Warning Unhealthy Readiness probe failed: call 3", "Warning Unhealthy Readiness probe failed: call 4"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestProbeWorker_ProbeOnce_InitialDelay(t *testing.T) {
	t.Parallel()
	f := newProbeFixture(t, 0)
	spec := execSpec(1, 1)
	spec.InitialDelaySeconds = 10
	pw := f.worker(probeReadiness, spec)
	pw.probeOnce(context.Background())
	f.clock.Step(9 * time.Second)
	pw.probeOnce(context.Background())
	if n := f.rt.execCalls(); n != 0 || f.st.ready {
		t.Fatalf("probed %d times within initialDelaySeconds (ready %v)", n, f.st.ready)
	}
	f.clock.Step(time.Second)
	pw.probeOnce(context.Background())
	if n := f.rt.execCalls(); n != 1 || !f.st.ready {
		t.Errorf("after the delay: %d probes, ready %v; want 1, true", n, f.st.ready)
	}
}

func TestProbeWorker_ProbeOnce_StartupGatesTheOthers(t *testing.T) {
	t.Parallel()
	f := newProbeFixture(t, 1, 0)
	f.st.started = false
	liveness, readiness, startup := f.worker(probeLiveness, execSpec(1, 1)), f.worker(probeReadiness, execSpec(1, 1)), f.worker(probeStartup, execSpec(1, 3))
	for _, pw := range []*probeWorker{liveness, readiness} {
		if !pw.probeOnce(context.Background()) {
			t.Fatalf("%s worker stopped while gated", pw.kind)
		}
	}
	if n := f.rt.execCalls(); n != 0 {
		t.Fatalf("%d probes ran before the startup probe passed", n)
	}
	if !startup.probeOnce(context.Background()) || f.st.started { // one failure of three
		t.Fatalf("startup probe: started=%v after one failure", f.st.started)
	}
	if startup.probeOnce(context.Background()) || !f.st.started {
		t.Fatalf("startup probe: started=%v after a success; want true and the worker done", f.st.started)
	}
	select {
	case <-f.set.readinessTrigger:
	default:
		t.Errorf("the readiness probe was not triggered when the startup probe passed")
	}
	if diff := cmp.Diff([]string{"Warning Unhealthy Startup probe failed: call 1"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestProbeWorker_ProbeOnce_LivenessFailureKills(t *testing.T) {
	t.Parallel()
	f := newProbeFixture(t, 0, 1, 1)
	pw := f.worker(probeLiveness, execSpec(1, 2))
	for i := range 2 {
		if !pw.probeOnce(context.Background()) {
			t.Fatalf("liveness worker stopped after probe %d", i+1)
		}
	}
	if pw.probeOnce(context.Background()) {
		t.Fatalf("liveness worker goes on after its failure threshold")
	}
	exit, err := f.rt.Wait(context.Background(), f.st.id)
	if err != nil || exit.ExitCode != 143 || !f.st.probeKilled {
		t.Errorf("container exit %+v (%v), probeKilled %v; want stopped with SIGTERM and marked", exit, err, f.st.probeKilled)
	}
	want := []string{
		"Warning Unhealthy Liveness probe failed: call 2",
		"Warning Unhealthy Liveness probe failed: call 3",
		"Normal Killing Container main failed liveness probe, will be restarted",
	}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !f.w.restartAfterProbeKill(f.st, corev1.RestartPolicyOnFailure) || f.w.restartAfterProbeKill(f.st, corev1.RestartPolicyNever) {
		t.Errorf("restart after a probe kill: want it for OnFailure (whatever the exit code), not for Never")
	}
}
