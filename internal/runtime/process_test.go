package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireNamespaces skips tests that need mount/UTS/PID namespaces.
func requireNamespaces(t *testing.T, p *Process) {
	t.Helper()
	if !p.Capabilities().Namespaces {
		t.Skipf("needs root and unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID): %s", p.Capabilities().Reason)
	}
}

func requireBusybox(t *testing.T, p *Process) {
	t.Helper()
	if p.Capabilities().Busybox == "" {
		t.Skip("busybox not installed (Debian package busybox-static)")
	}
}

// runToExit starts spec and waits for its exit; it returns the exit and log.
func runToExit(t *testing.T, rt Runtime, spec ContainerSpec) (ExitStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if spec.PodUID == "" {
		spec.PodUID = newPodUID(t)
	}
	if spec.Name == "" {
		spec.Name = "c"
	}
	id, err := rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	exit, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return exit, logsOf(t, rt, id)
}

func TestProcess_StartContainer_EnvAndWorkingDir(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			wd := t.TempDir()
			exit, log := runToExit(t, p, ContainerSpec{
				Image: "example.com/app", Command: testTask("env", "FOO", "env", "HOSTNAME", "env", "GOGC", "env", "GOMAXPROCS", "pwd"),
				Env: []EnvVar{{"FOO", "one"}, {"FOO", "bar"}}, WorkingDir: wd,
			})
			// The init helper's own settings (helperEnv) stay out of the workload.
			want := "FOO=bar\nHOSTNAME=\nGOGC=\nGOMAXPROCS=\n" + wd + "\n"
			if exit.ExitCode != 0 || log != want {
				t.Errorf("exit %d, log %q; want 0, %q", exit.ExitCode, log, want)
			}
		})
	}
}

func TestProcess_Logs_TimestampsAndStreams(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	before := time.Now().Add(-time.Second)
	_, _ = runToExit(t, p, ContainerSpec{PodUID: "logs-pod", Image: "app", Command: testTask("echo", "out", "stderr", "err")})
	var b strings.Builder
	if err := p.Logs(context.Background(), "logs-pod_c_0", LogOptions{TailLines: -1, Timestamps: true}, &b); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines = %q, want 2", lines)
	}
	// stdout and stderr are separate pipes: their relative order is not defined.
	seen := map[string]bool{}
	for i, line := range lines {
		ts, content, ok := strings.Cut(line, " ")
		parsed, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || parsed.Before(before) {
			t.Errorf("line %d = %q, want \"<RFC3339Nano time> <content>\"", i, line)
		}
		seen[content] = true
	}
	if !seen["out"] || !seen["err"] {
		t.Errorf("log lines = %q, want out and err", lines)
	}
	raw, err := os.ReadFile(filepath.Join(p.dir, "pods", "logs-pod", "logs", "c", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	criLine := regexp.MustCompile(`^\S+Z (stdout|stderr) F (out|err)$`)
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if !criLine.MatchString(l) {
			t.Errorf("log file line %q is not in CRI format", l)
		}
	}
}

func TestProcess_Logs_FollowUntilExit(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	ctx := context.Background()
	id, err := p.StartContainer(ctx, ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "app",
		Command: testTask("echo", "first", "sleep", "300ms", "echo", "second")})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.Logs(ctx, id, LogOptions{TailLines: -1, Follow: true}, &b); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if b.String() != "first\nsecond\n" {
		t.Errorf("followed log = %q, want both lines", b.String())
	}
}

func TestProcess_StartContainer_StartErrors(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	noNS := newProcessRuntime(t, ProcessConfig{DisableNamespaces: true})
	tests := map[string]struct {
		rt   *Process
		spec ContainerSpec
		want error
	}{
		"no command and no built-in image": {rt: p, spec: ContainerSpec{Image: "example.com/app"}, want: ErrNoCommand},
		"relative mount path":              {rt: p, spec: ContainerSpec{Image: "busybox", Mounts: []Mount{{HostPath: "/tmp", ContainerPath: "data"}}}, want: ErrInvalidSpec},
		"subPath with ..":                  {rt: p, spec: ContainerSpec{Image: "busybox", Mounts: []Mount{{HostPath: "/tmp", SubPath: "../etc", ContainerPath: "/d"}}}, want: ErrInvalidSpec},
		"volumes without namespaces":       {rt: noNS, spec: ContainerSpec{Image: "busybox", Mounts: []Mount{{HostPath: "/tmp", ContainerPath: "/data"}}}, want: ErrNamespacesUnavailable},
		"hostname without namespaces":      {rt: noNS, spec: ContainerSpec{Image: "busybox", Hostname: "h"}, want: ErrNamespacesUnavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.spec.PodUID, tc.spec.Name = newPodUID(t), "c"
			if _, err := tc.rt.StartContainer(context.Background(), tc.spec); !errors.Is(err, tc.want) {
				t.Errorf("StartContainer: %v, want %v", err, tc.want)
			}
			if _, err := tc.rt.Status(context.Background(), tc.spec.ID()); !errors.Is(err, ErrNotFound) {
				t.Errorf("a failed start left a container behind: %v", err)
			}
		})
	}
}

func TestProcess_StartContainer_ExecutableNotFound(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			_, err := p.StartContainer(context.Background(), ContainerSpec{PodUID: newPodUID(t), Name: "c",
				Image: "app", Command: []string{"no-such-binary-xyz"}})
			var se *StartError
			if !errors.As(err, &se) || !strings.Contains(se.Message, `exec: "no-such-binary-xyz"`) {
				t.Errorf("StartContainer: %v, want *StartError naming the executable", err)
			}
		})
	}
}

func TestProcess_Busybox_ScriptsAndApplets(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			requireBusybox(t, p)
			script := `if [[ -n "$RANDOM" ]] && [[ 1 -eq 1 ]]; then echo "r=$(( $RANDOM / 16384 ))"; fi; exit 4`
			exit, log := runToExit(t, p, ContainerSpec{Image: "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
				Command: []string{"/bin/sh", "-c", script}})
			if exit.ExitCode != 4 || (log != "r=0\n" && log != "r=1\n") {
				t.Errorf("exit %d, log %q; want 4 and r=0 or r=1", exit.ExitCode, log)
			}
		})
	}
}

func TestProcess_Busybox_DefaultCommand(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireBusybox(t, p)
	exit, _ := runToExit(t, p, ContainerSpec{Image: "docker.io/library/busybox:1.36", Args: []string{"-c", "exit 7"},
		Command: []string{"sh"}})
	if exit.ExitCode != 7 {
		t.Errorf("exit %d, want 7", exit.ExitCode)
	}
}

func TestProcess_StartContainer_VolumesAndHostname(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	ctx := context.Background()
	uid := newPodUID(t)
	sb, err := p.CreateSandbox(ctx, SandboxSpec{PodUID: uid, EmptyDirs: []EmptyDir{{Name: "data"}, {Name: "mem", Memory: true}}})
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "in"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `echo hi > /data/out && cat /ro/in && ! touch /ro/x 2>/dev/null && echo sub > /sub/f && ` +
		`echo m > /mem/f && hostname && cat /etc/hostname && ls /`
	exit, log := runToExit(t, p, ContainerSpec{PodUID: uid, Image: "busybox", Hostname: "job-0",
		Command: []string{"sh", "-c", script},
		Mounts: []Mount{
			{HostPath: sb.VolumePaths["data"], ContainerPath: "/data"},
			{HostPath: hostDir, ContainerPath: "/ro", ReadOnly: true},
			{HostPath: sb.VolumePaths["data"], SubPath: "a/b", ContainerPath: "/sub"},
			{HostPath: sb.VolumePaths["mem"], ContainerPath: "/mem"},
		}})
	if exit.ExitCode != 0 || !strings.HasPrefix(log, "from-hostjob-0\njob-0\n") {
		t.Fatalf("exit %d, log %q", exit.ExitCode, log)
	}
	for file, want := range map[string]string{"out": "hi\n", "a/b/f": "sub\n"} {
		if got, err := os.ReadFile(filepath.Join(sb.VolumePaths["data"], file)); err != nil || string(got) != want {
			t.Errorf("volume file %s = %q, %v; want %q", file, got, err, want)
		}
	}
	if mounted, _ := isMountPoint(sb.VolumePaths["mem"]); !mounted && len(sb.Warnings) == 0 {
		t.Errorf("medium Memory emptyDir is not a tmpfs and no warning was given")
	}
	if err := p.RemoveSandbox(ctx, uid); err != nil {
		t.Fatalf("RemoveSandbox: %v", err)
	}
	if _, err := os.Stat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sandbox dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "in")); err != nil {
		t.Errorf("RemoveSandbox touched a hostPath volume: %v", err)
	}
}

func TestProcess_StartContainer_FailOnceFixture(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	// Upstream's failOnce job fixture (test/e2e/framework/job/fixtures.go) with a hostPath volume.
	script := "\n\t\t\tif [[ -r /data/foo ]]\n\t\t\tthen\n\t\t\t\texit 0\n\t\t\telse\n\t\t\t\ttouch /data/foo\n\t\t\t\texit 1\n\t\t\tfi\n\t\t"
	hostPath := t.TempDir()
	spec := ContainerSpec{PodUID: newPodUID(t), Image: "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
		Command: []string{"/bin/sh", "-c"}, Args: []string{script},
		Mounts: []Mount{{HostPath: hostPath, ContainerPath: "/data"}}, Hostname: "fail-once"}
	for attempt, want := range []int32{1, 0} {
		spec.Attempt = int32(attempt)
		if exit, log := runToExit(t, p, spec); exit.ExitCode != want {
			t.Errorf("attempt %d: exit %d (log %q), want %d", attempt, exit.ExitCode, log, want)
		}
	}
}

func TestProcess_Stop_SleepAsPID1(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	// Upstream's neverTerminate fixture: busybox sleep is PID 1 of its
	// container and ignores SIGTERM, so it is killed at the end of grace.
	ctx := context.Background()
	id, err := p.StartContainer(ctx, ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "busybox",
		Command: []string{"sleep", "1000000"}})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := p.Stop(ctx, id, 300*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	exit, _ := p.Wait(ctx, id)
	if exit.ExitCode != 137 || time.Since(begin) < 300*time.Millisecond {
		t.Errorf("exit %d after %v, want 137 after the grace period", exit.ExitCode, time.Since(begin))
	}
}

func TestProcess_Pause(t *testing.T) {
	t.Parallel()
	for name, disableNS := range map[string]bool{"with namespaces": false, "without namespaces": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProcessRuntime(t, ProcessConfig{DisableNamespaces: disableNS})
			ctx := context.Background()
			id, err := p.StartContainer(ctx, ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "registry.k8s.io/pause:3.10"})
			if err != nil {
				t.Fatalf("StartContainer: %v", err)
			}
			if st, _ := p.Status(ctx, id); st.State != StateRunning {
				t.Fatalf("pause is %s, want running", st.State)
			}
			begin := time.Now()
			if err := p.Stop(ctx, id, 10*time.Second); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			exit, _ := p.Wait(ctx, id)
			if exit.ExitCode != 0 || exit.Reason != ReasonCompleted || time.Since(begin) > 5*time.Second {
				t.Errorf("pause exited %d %q after %v, want 0 Completed at once", exit.ExitCode, exit.Reason, time.Since(begin))
			}
		})
	}
}

func TestProcess_StartContainer_RunAsUser(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	uid, gid := int64(1000), int64(3000)
	exit, log := runToExit(t, p, ContainerSpec{Image: "busybox", RunAsUser: &uid, RunAsGroup: &gid,
		Command: []string{"sh", "-c", "echo $(id -u) $(id -g); echo msg > /dev/termination-log"}})
	if exit.ExitCode != 0 || log != "1000 3000\n" {
		t.Errorf("exit %d, log %q; want 0, \"1000 3000\"", exit.ExitCode, log)
	}
}

func TestProcess_TerminationMessage(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	long := strings.Repeat("x", MaxTerminationMessageLength+100)
	tests := map[string]struct {
		script   string
		path     string
		fallback bool
		want     string
	}{
		"message file":                   {script: "printf done > /dev/termination-log; exit 1", fallback: true, want: "done"},
		"custom path":                    {script: "mkdir -p /tmp/x && printf hi > /tmp/x/msg", path: "/tmp/x/msg", want: "hi"},
		"message capped at 4096 bytes":   {script: "printf " + long + " > /dev/termination-log", want: long[:MaxTerminationMessageLength]},
		"fallback to log tail on error":  {script: "echo one; echo two; exit 2", fallback: true, want: "one\ntwo\n"},
		"no fallback on success":         {script: "echo one", fallback: true, want: ""},
		"no fallback without the policy": {script: "echo one; exit 2", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "busybox", TerminationMessagePath: tc.path,
				Command: []string{"sh", "-c", tc.script}}
			runToExit(t, p, spec)
			got, err := p.TerminationMessage(context.Background(), spec.ID(), tc.fallback)
			if err != nil || got != tc.want {
				t.Errorf("TerminationMessage = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestProcess_StartContainer_MemoryLimitOOMKilled(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	if p.Capabilities().CgroupVersion == 0 {
		t.Skipf("cgroup limits not available: %s", p.Capabilities().Reason)
	}
	exit, log := runToExit(t, p, ContainerSpec{Image: "app", Command: testTask("alloc", "400"),
		MemoryLimit: 64 << 20, CPULimitMilli: 500})
	if !exit.OOMKilled || exit.Reason != ReasonOOMKilled || exit.ExitCode != 137 {
		t.Errorf("exit = %+v (log %q), want OOMKilled with 137", exit, log)
	}
}

func TestProcess_NewProcess_RecoversContainers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := newProcessRuntime(t, ProcessConfig{Dir: dir})
	ctx := context.Background()
	done, err := first.StartContainer(ctx, ContainerSpec{PodUID: "pod-a", Name: "done", Image: "app", Command: testTask("exit", "5")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Wait(ctx, done); err != nil {
		t.Fatal(err)
	}
	running, err := first.StartContainer(ctx, ContainerSpec{PodUID: "pod-a", Name: "run", Image: "app", Command: testTask("wait")})
	if err != nil {
		t.Fatal(err)
	}
	second := newProcessRuntime(t, ProcessConfig{Dir: dir})
	list, _ := second.List(ctx)
	got := map[ContainerID]string{}
	for _, c := range list {
		code := ""
		if c.Exit != nil {
			code = strconv.Itoa(int(c.Exit.ExitCode))
		}
		got[c.ID] = string(c.State) + code + strconv.FormatBool(c.Recovered)
	}
	want := map[ContainerID]string{done: "Exited5true", running: "Runningtrue"}
	if len(got) != len(want) || got[done] != want[done] || got[running] != want[running] {
		t.Fatalf("recovered containers = %v, want %v", got, want)
	}
	if err := second.Stop(ctx, running, 0); err != nil {
		t.Fatalf("Stop of a recovered container: %v", err)
	}
	exit, err := first.Wait(ctx, running)
	if err != nil || exit.ExitCode != 137 {
		t.Errorf("first runtime saw exit %+v, %v; want 137", exit, err)
	}
	if err := second.Remove(ctx, running); err != nil {
		t.Errorf("Remove of a recovered container: %v", err)
	}
}

func TestProcess_StartContainer_BusyboxMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	images, err := NewBuiltinImages(BuiltinImagesConfig{Dir: filepath.Join(dir, "images"), Busybox: filepath.Join(dir, "no-busybox")})
	if err != nil {
		t.Fatal(err)
	}
	p := newProcessRuntime(t, ProcessConfig{Dir: dir, Images: images})
	_, err = p.StartContainer(context.Background(), ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "busybox:1.36",
		Command: []string{"sh", "-c", "exit 0"}})
	if !errors.Is(err, ErrBusyboxMissing) || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("StartContainer: %v, want ErrBusyboxMissing naming busybox-static", err)
	}
}

// A binary that never called MaybeRunInit must not re-execute itself as the
// init helper (a test binary would run its tests again, recursively). Not
// parallel: it flips the process-wide hook flag while no other test runs.
func TestProcess_StartContainer_NoInitHook(t *testing.T) {
	p := newProcessRuntime(t, ProcessConfig{})
	initHookInstalled.Store(false)
	defer initHookInstalled.Store(true)
	spec := ContainerSpec{PodUID: newPodUID(t), Name: "c", Image: "busybox", Command: []string{"true"}}
	if _, err := p.StartContainer(context.Background(), spec); !errors.Is(err, ErrNoInitHook) {
		t.Fatalf("StartContainer: %v, want %v", err, ErrNoInitHook)
	}
	if _, err := p.Status(context.Background(), spec.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed start left a container behind: %v", err)
	}
}

// An ephemeral container with a target joins the target's PID namespace:
// it sees the target's processes, and the target's are not its own.
func TestProcess_StartContainer_PIDNamespaceOf(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	uid := newPodUID(t)
	target := startWaiting(t, p, ContainerSpec{PodUID: uid, Name: "main", Image: "busybox", Command: []string{"sleep", "600"}})
	exit, log := runToExit(t, p, ContainerSpec{PodUID: uid, Name: "debug", Image: "busybox", PIDNamespaceOf: target,
		Command: []string{"sh", "-c", "ps -o pid,args; echo my pid is $$"}})
	if exit.ExitCode != 0 || !strings.Contains(log, "    1 sleep 600") || strings.Contains(log, "my pid is 1\n") {
		t.Errorf("exit %d, log:\n%s\nwant the target's sleep as PID 1, and the shell not", exit.ExitCode, log)
	}
	if err := p.Stop(context.Background(), target, 0); err != nil {
		t.Fatal(err)
	}
	_, err := p.StartContainer(context.Background(), ContainerSpec{PodUID: uid, Name: "late", Image: "busybox", PIDNamespaceOf: target, Command: []string{"true"}})
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("joining an exited container: %v, want ErrNotRunning", err)
	}
}

// A hostPID container sees the host's processes and is not PID 1.
func TestProcess_StartContainer_HostPID(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	requireNamespaces(t, p)
	requireBusybox(t, p)
	hostInit, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	exit, log := runToExit(t, p, ContainerSpec{Image: "busybox", HostPID: true,
		Command: []string{"sh", "-c", "echo pid=$$; cat /proc/1/comm"}})
	if exit.ExitCode != 0 || strings.HasPrefix(log, "pid=1\n") || !strings.HasSuffix(log, "\n"+string(hostInit)) {
		t.Errorf("exit %d, log %q; want a shell that is not PID 1, and the host's PID 1 (%q)", exit.ExitCode, log, hostInit)
	}
}
