package runtime

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pollUntil calls fn until it returns true or timeout passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var podSeq atomic.Int64

// newPodUID returns a unique pod UID per test container.
func newPodUID(t *testing.T) string {
	return strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()) + "-" +
		time.Now().Format("150405") + "-" + string(rune('a'+podSeq.Add(1)%26))
}

// harness is one Runtime implementation under test.
type harness struct {
	name string
	rt   Runtime
	// fake tells scenarios to describe the workload with FakeBehavior.
	fake bool
}

func newProcessRuntime(t *testing.T, cfg ProcessConfig) *Process {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		list, _ := p.List(ctx)
		for _, c := range list {
			if err := p.Remove(ctx, c.ID); err != nil {
				t.Errorf("cleanup: removing %s: %v", c.ID, err)
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Errorf("cleanup: closing runtime: %v", err)
		}
	})
	return p
}

func harnesses(t *testing.T) []harness {
	return []harness{
		{name: "process", rt: newProcessRuntime(t, ProcessConfig{})},
		{name: "fake", rt: NewFake(), fake: true},
	}
}

// scenario is a workload both runtimes can run.
type scenario struct {
	// actions for the process runtime's test task; fake for the fake runtime.
	actions []string
	fake    FakeBehavior
	// stop, when set, calls Stop with grace once the output contains "ready".
	stop  bool
	grace time.Duration
	// want is the exit code and reason; wantLog is contained in the log.
	want       int32
	wantReason string
	wantLog    string
	// minElapsed / maxElapsed bound the time from start (or Stop) to exit.
	minElapsed, maxElapsed time.Duration
}

var scenarios = map[string]scenario{
	"exit 0 with output": {
		actions: []string{"echo", "hello"}, fake: FakeBehavior{Output: "hello\n"},
		want: 0, wantReason: ReasonCompleted, wantLog: "hello\n",
	},
	"exit with code N": {
		actions: []string{"exit", "3"}, fake: FakeBehavior{ExitCode: 3},
		want: 3, wantReason: ReasonError,
	},
	"runs for a duration": {
		actions: []string{"sleep", "300ms"}, fake: FakeBehavior{Duration: 300 * time.Millisecond},
		want: 0, wantReason: ReasonCompleted, minElapsed: 300 * time.Millisecond,
	},
	"trapping SIGTERM gets its grace": {
		actions: []string{"trap-term", "400ms", "wait"},
		fake:    FakeBehavior{Duration: -1, TermDelay: 400 * time.Millisecond, Output: "ready\n"},
		stop:    true, grace: 10 * time.Second,
		want: 143, wantReason: ReasonError, minElapsed: 400 * time.Millisecond, maxElapsed: 8 * time.Second,
	},
	"ignoring SIGTERM is killed at the end of grace": {
		actions: []string{"ignore-term", "wait"},
		fake:    FakeBehavior{Duration: -1, TermDelay: -1, Output: "ready\n"},
		stop:    true, grace: 500 * time.Millisecond,
		want: 137, wantReason: ReasonError, minElapsed: 500 * time.Millisecond,
	},
	"stop without grace kills at once": {
		actions: []string{"ignore-term", "wait"},
		fake:    FakeBehavior{Duration: -1, TermDelay: -1, Output: "ready\n"},
		stop:    true, grace: 0,
		want: 137, wantReason: ReasonError, maxElapsed: 5 * time.Second,
	},
}

func TestRuntime_Scenarios(t *testing.T) {
	t.Parallel()
	for _, h := range harnesses(t) {
		for name, sc := range scenarios {
			t.Run(h.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				runScenario(t, h, sc)
			})
		}
	}
}

func runScenario(t *testing.T, h harness, sc scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := ContainerSpec{PodUID: newPodUID(t), PodNamespace: "default", PodName: "p", Name: "c", Image: "example.com/app:1"}
	if h.fake {
		spec.Fake = sc.fake
	} else {
		spec.Command = testTask(sc.actions...)
	}
	id, err := h.rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	begin := time.Now()
	if sc.stop {
		pollUntil(t, 10*time.Second, "ready in log", func() bool { return strings.Contains(logsOf(t, h.rt, id), "ready") })
		begin = time.Now()
		if err := h.rt.Stop(ctx, id, sc.grace); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	exit, err := h.rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	elapsed := time.Since(begin)
	if exit.ExitCode != sc.want || exit.Reason != sc.wantReason {
		t.Errorf("exit = %d %q, want %d %q (status %+v, log %q)", exit.ExitCode, exit.Reason, sc.want, sc.wantReason, exit, logsOf(t, h.rt, id))
	}
	if elapsed < sc.minElapsed || (sc.maxElapsed > 0 && elapsed > sc.maxElapsed) {
		t.Errorf("exited after %v, want within [%v, %v]", elapsed, sc.minElapsed, sc.maxElapsed)
	}
	if got := logsOf(t, h.rt, id); !strings.Contains(got, sc.wantLog) {
		t.Errorf("log = %q, want it to contain %q", got, sc.wantLog)
	}
	st, err := h.rt.Status(ctx, id)
	if err != nil || st.State != StateExited || st.Exit == nil || st.Exit.ExitCode != sc.want {
		t.Errorf("Status = %+v, %v; want exited with %d", st, err, sc.want)
	}
	if err := h.rt.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := h.rt.Wait(ctx, id); !errorsIs(err, ErrNotFound) {
		t.Errorf("Wait after Remove: %v, want ErrNotFound", err)
	}
}

func logsOf(t *testing.T, rt Runtime, id ContainerID) string {
	t.Helper()
	var b bytes.Buffer
	if err := rt.Logs(context.Background(), id, LogOptions{TailLines: -1}, &b); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	return b.String()
}

func TestRuntime_StartContainer_Exists(t *testing.T) {
	t.Parallel()
	for _, h := range harnesses(t) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			spec := ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "example.com/app", Command: testTask("exit", "0")}
			if _, err := h.rt.StartContainer(ctx, spec); err != nil {
				t.Fatalf("first StartContainer: %v", err)
			}
			if _, err := h.rt.StartContainer(ctx, spec); !errorsIs(err, ErrExists) {
				t.Errorf("second StartContainer: %v, want ErrExists", err)
			}
			if err := h.rt.Stop(ctx, "nope_c_0", time.Second); err != nil {
				t.Errorf("Stop of a missing container: %v, want nil", err)
			}
			if err := h.rt.Remove(ctx, "nope_c_0"); err != nil {
				t.Errorf("Remove of a missing container: %v, want nil", err)
			}
			if _, err := h.rt.Status(ctx, "nope_c_0"); !errorsIs(err, ErrNotFound) {
				t.Errorf("Status of a missing container: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestRuntime_Stop_ConcurrentCallersAndWaiters(t *testing.T) {
	t.Parallel()
	for _, h := range harnesses(t) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			spec := ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "app",
				Command: testTask("ignore-term", "wait"), Fake: FakeBehavior{Duration: -1, TermDelay: -1, Output: "ready\n"}}
			id, err := h.rt.StartContainer(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			pollUntil(t, 10*time.Second, "ready in log", func() bool { return strings.Contains(logsOf(t, h.rt, id), "ready") })
			errc := make(chan error, 6)
			for _, grace := range []time.Duration{time.Hour, 100 * time.Millisecond, time.Hour} {
				go func() { errc <- h.rt.Stop(ctx, id, grace) }()
			}
			for range 3 {
				go func() {
					exit, err := h.rt.Wait(ctx, id)
					if err == nil && exit.ExitCode != 137 {
						err = fmt.Errorf("exit code %d, want 137", exit.ExitCode)
					}
					errc <- err
				}()
			}
			for range 6 {
				if err := <-errc; err != nil {
					t.Errorf("Stop/Wait: %v", err)
				}
			}
			if err := h.rt.Stop(ctx, id, time.Hour); err != nil {
				t.Errorf("Stop of an exited container: %v, want nil", err)
			}
		})
	}
}
