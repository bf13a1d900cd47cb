package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startWaiting starts a container that runs until stopped.
func startWaiting(t *testing.T, rt Runtime, spec ContainerSpec) ContainerID {
	t.Helper()
	if spec.PodUID == "" {
		spec.PodUID = newPodUID(t)
	}
	if spec.Name == "" {
		spec.Name = "c"
	}
	id, err := rt.StartContainer(context.Background(), spec)
	if err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
	return id
}

func TestProcess_ExecSync_ExitCodesOutputAndEnvironment(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			wd := t.TempDir()
			id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("wait"),
				Env: []EnvVar{{"FOO", "bar"}}, WorkingDir: wd})
			tests := map[string]struct {
				cmd      []string
				wantCode int32
				wantOut  string
			}{
				"success with the container's env and working directory": {testTask("env", "FOO", "pwd"), 0, "FOO=bar\n" + wd + "\n"},
				"failure keeps the output":                               {testTask("echo", "not yet", "exit", "1"), 1, "not yet\n"},
				"stderr is part of the output":                           {testTask("stderr", "oops", "exit", "3"), 3, "oops\n"},
				"missing executable exits 127":                           {[]string{"/does/not/exist"}, 127, ""},
			}
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					res, err := p.ExecSync(context.Background(), id, tc.cmd, 10*time.Second)
					if err != nil {
						t.Fatalf("ExecSync: %v", err)
					}
					if res.ExitCode != tc.wantCode || (tc.wantOut != "" && string(res.Output) != tc.wantOut) {
						t.Errorf("ExecSync = %d %q, want %d %q", res.ExitCode, res.Output, tc.wantCode, tc.wantOut)
					}
				})
			}
		})
	}
}

func TestProcess_ExecSync_TimeoutKillsTheCommand(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("wait")})
	begin := time.Now()
	res, err := p.ExecSync(context.Background(), id, testTask("echo", "started", "sleep", "1m"), 300*time.Millisecond)
	if !errors.Is(err, ErrExecTimeout) {
		t.Fatalf("ExecSync error = %v, want ErrExecTimeout", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("ExecSync returned after %v, want about the 300ms timeout", took)
	}
	if string(res.Output) != "started\n" {
		t.Errorf("output = %q, want what the command wrote before the timeout", res.Output)
	}
}

func TestProcess_ExecSync_SeesTheContainersFiles(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	marker := "skiff-exec-" + newPodUID(t)
	id := startWaiting(t, p, ContainerSpec{Image: "busybox", Hostname: "exec-host",
		Command: []string{"sh", "-c", "touch /tmp/" + marker + " && exec sleep 600"}})
	pollUntil(t, 20*time.Second, "the container's file visible to exec", func() bool {
		res, err := p.ExecSync(context.Background(), id, []string{"test", "-f", "/tmp/" + marker}, 10*time.Second)
		return err == nil && res.ExitCode == 0
	})
	if _, err := os.Stat(filepath.Join("/tmp", marker)); err == nil {
		t.Fatalf("the container's /tmp is the host's: the test proves nothing")
	}
	res, err := p.ExecSync(context.Background(), id, []string{"hostname"}, 10*time.Second)
	if err != nil || res.ExitCode != 0 || string(res.Output) != "exec-host\n" {
		t.Errorf("hostname = %d %q %v, want the container's hostname", res.ExitCode, res.Output, err)
	}
}

func TestRuntime_ExecAndAttach_Errors(t *testing.T) {
	t.Parallel()
	for _, h := range harnesses(t) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			spec := ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "example.com/app", Command: testTask("exit", "0")}
			if h.fake {
				spec.Command = nil
			}
			id, err := h.rt.StartContainer(ctx, spec)
			if err != nil {
				t.Fatalf("StartContainer: %v", err)
			}
			if _, err := h.rt.Wait(ctx, id); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if _, err := h.rt.ExecSync(ctx, id, []string{"true"}, time.Second); !errors.Is(err, ErrNotRunning) {
				t.Errorf("ExecSync on an exited container: %v, want ErrNotRunning", err)
			}
			if _, err := h.rt.ExecSync(ctx, "nope_c_0", []string{"true"}, time.Second); !errors.Is(err, ErrNotFound) {
				t.Errorf("ExecSync on a missing container: %v, want ErrNotFound", err)
			}
			if _, err := h.rt.Exec(ctx, id, []string{"true"}, ExecIO{}); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Exec on an exited container: %v, want ErrNotRunning", err)
			}
			if _, err := h.rt.Exec(ctx, "nope_c_0", []string{"true"}, ExecIO{}); !errors.Is(err, ErrNotFound) {
				t.Errorf("Exec on a missing container: %v, want ErrNotFound", err)
			}
			if err := h.rt.Attach(ctx, id, ExecIO{}); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Attach to an exited container: %v, want ErrNotRunning", err)
			}
			if err := h.rt.Attach(ctx, "nope_c_0", ExecIO{}); !errors.Is(err, ErrNotFound) {
				t.Errorf("Attach to a missing container: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestFake_ExecSync_AnswersWithExecExitCode(t *testing.T) {
	t.Parallel()
	f := NewFake()
	ctx := context.Background()
	for name, code := range map[string]int32{"ok": 0, "failing": 1} {
		id, err := f.StartContainer(ctx, ContainerSpec{PodUID: "p", Name: name, Fake: FakeBehavior{Duration: -1, ExecExitCode: code}})
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{{"cat", "/tmp/healthy"}, nil} {
			res, err := f.ExecSync(ctx, id, cmd, time.Second)
			if err != nil || res.ExitCode != code || len(res.Output) != 0 {
				t.Errorf("%s: ExecSync(%q) = %d %q %v, want %d", name, cmd, res.ExitCode, res.Output, err, code)
			}
		}
	}
	if f.Capabilities().Network {
		t.Errorf("the fake claims a network: the agent would probe nothing real")
	}
}

// lockedBuffer is a bytes.Buffer safe for the exec's copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProcess_Exec_Streams(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("wait")})
			neverClosed, _ := io.Pipe()
			tests := map[string]struct {
				cmd        []string
				stdin      io.Reader
				tty        bool
				resize     []TerminalSize
				wantCode   int32
				wantStdout string // a substring with tty
				wantStderr string
			}{
				"stdin to stdout":             {cmd: testTask("cat"), stdin: strings.NewReader("hello\nworld\n"), wantStdout: "hello\nworld\n"},
				"stdout and stderr apart":     {cmd: testTask("echo", "out", "stderr", "err", "exit", "4"), wantCode: 4, wantStdout: "out\n", wantStderr: "err\n"},
				"open stdin does not hold it": {cmd: testTask("echo", "done"), stdin: neverClosed, wantStdout: "done\n"},
				"missing executable":          {cmd: []string{"/does/not/exist"}, wantCode: 127, wantStderr: "/does/not/exist"},
				"tty with its size":           {cmd: testTask("winsize", "30x100"), tty: true, resize: []TerminalSize{{Width: 100, Height: 30}}, wantStdout: "tty 30x100\r\n"},
				"tty without a size":          {cmd: testTask("stderr", "on the terminal"), tty: true, wantStdout: "on the terminal\r\n"},
				"tty found by its name":       {cmd: testTask("ttyname"), tty: true, wantStdout: "terminal found\r\n"},
			}
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					var stdout, stderr lockedBuffer
					resize := make(chan TerminalSize, len(tc.resize))
					for _, s := range tc.resize {
						resize <- s
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					code, err := p.Exec(ctx, id, tc.cmd, ExecIO{Stdin: tc.stdin, Stdout: &stdout, Stderr: &stderr, TTY: tc.tty, Resize: resize})
					if err != nil {
						t.Fatalf("Exec: %v", err)
					}
					if code != tc.wantCode {
						t.Errorf("exit code = %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
					}
					if got := stdout.String(); (tc.tty && !strings.Contains(got, tc.wantStdout)) || (!tc.tty && got != tc.wantStdout) {
						t.Errorf("stdout = %q, want %q", got, tc.wantStdout)
					}
					if got := stderr.String(); !strings.Contains(got, tc.wantStderr) || (tc.wantStderr == "" && got != "") {
						t.Errorf("stderr = %q, want %q", got, tc.wantStderr)
					}
				})
			}
		})
	}
}

func TestProcess_Exec_ContextEndKillsTheCommand(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("wait")})
	for _, tty := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		begin := time.Now()
		_, err := p.Exec(ctx, id, testTask("wait"), ExecIO{TTY: tty})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("tty %v: Exec error = %v, want the context's", tty, err)
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("tty %v: Exec returned after %v, want about 300ms", tty, took)
		}
	}
}

// nsenter's --setgid clears the supplementary groups; the exec shim keeps
// them, as the workload has them.
func TestProcess_Exec_KeepsSupplementaryGroups(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	uid, gid := int64(1000), int64(3000)
	id := startWaiting(t, p, ContainerSpec{Image: "busybox", RunAsUser: &uid, RunAsGroup: &gid,
		SupplementalGroups: []int64{4000, 5000}, Command: []string{"sleep", "600"}})
	res, err := p.ExecSync(context.Background(), id, []string{"sh", "-c", "id -u; id -G"}, 10*time.Second)
	if err != nil || res.ExitCode != 0 || string(res.Output) != "1000\n3000 4000 5000\n" {
		t.Errorf("ExecSync = %d %q, %v; want the workload's user and groups", res.ExitCode, res.Output, err)
	}
	var stdout, stderr bytes.Buffer
	code, err := p.Exec(context.Background(), id, []string{"id", "-G"}, ExecIO{Stdout: &stdout, Stderr: &stderr})
	if err != nil || code != 0 || stdout.String() != "3000 4000 5000\n" {
		t.Errorf("Exec = %d %q %q, %v", code, stdout.String(), stderr.String(), err)
	}
	stdout.Reset()
	code, err = p.Exec(context.Background(), id, []string{"/does/not/exist", "--", "x"}, ExecIO{Stdout: &stdout, Stderr: &stderr})
	if err != nil || code != 127 || !strings.Contains(stderr.String(), "/does/not/exist") {
		t.Errorf("missing executable: Exec = %d %q, %v; want 127 and its name", code, stderr.String(), err)
	}
}
