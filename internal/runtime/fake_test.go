package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFake_Stop_ShorterGraceWins(t *testing.T) {
	t.Parallel()
	f := NewFake()
	ctx := context.Background()
	id, err := f.StartContainer(ctx, ContainerSpec{PodUID: "p", Name: "c", Fake: FakeBehavior{Duration: -1, TermDelay: -1}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = f.Stop(ctx, id, time.Hour)
	}()
	begin := time.Now()
	if err := f.Stop(ctx, id, 50*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	wg.Wait()
	exit, _ := f.Wait(ctx, id)
	if exit.ExitCode != 137 || time.Since(begin) > 5*time.Second {
		t.Errorf("exit %d after %v, want 137 after the short grace", exit.ExitCode, time.Since(begin))
	}
}

func TestFake_TerminationMessage_FallbackToLogs(t *testing.T) {
	t.Parallel()
	f := NewFake()
	ctx := context.Background()
	lines := make([]string, 0, 100)
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	id, err := f.StartContainer(ctx, ContainerSpec{PodUID: "p", Name: "c",
		Fake: FakeBehavior{ExitCode: 1, Output: strings.Join(lines, "\n")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := f.TerminationMessage(ctx, id, true)
	want := strings.Join(lines[100-MaxTerminationMessageLogLines:], "\n") + "\n"
	if err != nil || msg != want {
		t.Errorf("TerminationMessage = %q, %v; want the last %d lines", msg, err, MaxTerminationMessageLogLines)
	}
	if msg, _ := f.TerminationMessage(ctx, id, false); msg != "" {
		t.Errorf("TerminationMessage without fallback = %q, want empty", msg)
	}
}

func TestFake_RemoveSandbox_RemovesPodContainers(t *testing.T) {
	t.Parallel()
	f := NewFake()
	ctx := context.Background()
	for _, spec := range []ContainerSpec{{PodUID: "a", Name: "x"}, {PodUID: "a", Name: "y", Fake: FakeBehavior{Duration: -1}}, {PodUID: "b", Name: "x"}} {
		if _, err := f.StartContainer(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.RemoveSandbox(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	list, _ := f.List(ctx)
	if len(list) != 1 || list[0].ID != "b_x_0" {
		t.Errorf("containers left = %+v, want only b_x_0", list)
	}
	if err := f.Remove(ctx, "b_x_0"); err != nil {
		t.Fatal(err)
	}
	if len(f.containers) != 0 || len(f.byPod) != 0 {
		t.Errorf("after removing every container: %d containers, %d pods indexed, want none", len(f.containers), len(f.byPod))
	}
}

// BenchmarkFake_StartWaitRemove measures one fake container's life cycle.
func BenchmarkFake_StartWaitRemove(b *testing.B) {
	f := NewFake()
	ctx := context.Background()
	spec := ContainerSpec{PodUID: "pod", Name: "c", Image: "busybox"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		spec.Attempt = int32(i % (1 << 30))
		id, err := f.StartContainer(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Wait(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := f.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcess_BusyboxExit0 measures starting and reaping `sh -c 'exit 0'`.
func BenchmarkProcess_BusyboxExit0(b *testing.B) {
	p, err := NewProcess(ProcessConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if p.Capabilities().Busybox == "" {
		b.Skip("busybox not installed")
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		spec := ContainerSpec{PodUID: fmt.Sprintf("pod%d", i), Name: "c", Image: "busybox", Hostname: "h",
			Command: []string{"sh", "-c", "exit 0"}}
		id, err := p.StartContainer(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if exit, err := p.Wait(ctx, id); err != nil || exit.ExitCode != 0 {
			b.Fatalf("exit %+v, %v", exit, err)
		}
		if err := p.RemoveSandbox(ctx, spec.PodUID); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
