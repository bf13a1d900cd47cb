package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// execWaitDelay bounds how long ExecSync waits for the output pipe to close
// after the command exited (a background child may hold it open).
const execWaitDelay = 2 * time.Second

// execEnv is what a container's workload was started with, kept so that
// ExecSync runs commands the same way.
type execEnv struct {
	env []string
	// dir is the working directory in the container's view; "" means "/".
	dir            string
	namespaces     bool
	uid, gid       *uint32
	groups         []uint32
	fallbackBinDir string
}

func newExecEnv(cfg *initConfig) *execEnv {
	return &execEnv{
		env: slices.Clone(cfg.Env), dir: cfg.Dir, namespaces: cfg.Namespaces,
		uid: cfg.UID, gid: cfg.GID, groups: slices.Clone(cfg.Groups), fallbackBinDir: cfg.FallbackBinDir,
	}
}

// ExecSync implements Runtime.
//
// With namespaces the command runs through util-linux nsenter: in the
// container's mount, UTS and PID namespaces, chrooted to its root, in its
// working directory, with its environment, user and supplementary groups
// (the groups through the exec shim, exec_shim.go). Without namespaces it
// runs on the host with the same environment, working directory and
// credentials. Either way it joins
// the container's cgroup (when limits are enforced), so that stopping the
// container also kills it, and gets its own process group, which a timeout
// or the end of ctx kills with SIGKILL.
func (p *Process) ExecSync(ctx context.Context, id ContainerID, cmd []string, timeout time.Duration) (ExecResult, error) {
	c, ec, notFound, err := p.execCommand(id, cmd)
	if err != nil || ec == nil {
		return notFound, err
	}
	return p.runExec(ctx, c, ec, cmd, timeout)
}

// execCommand prepares cmd to run in the running container id as its
// workload runs (see ExecSync). When the executable cannot be found on the
// host it returns no command and the result the init helper and nsenter
// give then: exit code 127 and a message.
func (p *Process) execCommand(id ContainerID, cmd []string) (*container, *exec.Cmd, ExecResult, error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, nil, ExecResult{}, fmt.Errorf("%w: empty exec command", ErrInvalidSpec)
	}
	c, err := p.lookup(id)
	if err != nil {
		return nil, nil, ExecResult{}, err
	}
	if c.exited() {
		return nil, nil, ExecResult{}, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	if c.exec == nil {
		return nil, nil, ExecResult{}, fmt.Errorf("exec in %s, recovered after a restart: %w", id, errors.ErrUnsupported)
	}
	if c.exec.namespaces {
		ec, err := c.nsenterCommand(cmd, p.execShimPath())
		return c, ec, ExecResult{}, err
	}
	exe, err := lookExecutable(cmd[0], &initConfig{Env: c.exec.env, FallbackBinDir: c.exec.fallbackBinDir})
	if err != nil {
		return c, nil, ExecResult{ExitCode: initExitNotFound, Output: fmt.Appendf(nil, "exec: %q: %v\n", cmd[0], err)}, nil
	}
	return c, c.hostCommand(exe, cmd), ExecResult{}, nil
}

// nsenterCommand runs cmd in the namespaces and root of c's process. When
// c has supplementary groups, which nsenter cannot set, and shim is not "",
// the command runs through the exec shim at that path (exec_shim.go), whose
// open file goes in the command's ExtraFiles.
func (c *container) nsenterCommand(cmd []string, shim string) (*exec.Cmd, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("exec in a container with namespaces needs util-linux nsenter: %w", err)
	}
	dir := c.exec.dir
	if dir == "" {
		dir = "/"
	}
	args := []string{"nsenter", "--target", strconv.Itoa(c.pid), "--mount", "--uts", "--pid"}
	var extra []*os.File
	if len(c.exec.groups) > 0 && shim != "" {
		self, err := os.Open(shim)
		if err != nil {
			return nil, fmt.Errorf("opening the exec shim: %w", err)
		}
		extra = []*os.File{self}
		// The shim enters the root itself: the binary needs the host's
		// dynamic loader, which the container's root may not have.
		root := "/proc/" + strconv.Itoa(c.pid) + "/root"
		args = append(append(args, "--", "/proc/self/fd/"+strconv.Itoa(execShimFD)), execShimArgs(root, dir, c.exec)...)
	} else {
		args = append(args, "--root", "--wdns="+dir)
		if c.exec.gid != nil {
			args = append(args, "--setgid", strconv.FormatUint(uint64(*c.exec.gid), 10))
		}
		if c.exec.uid != nil {
			args = append(args, "--setuid", strconv.FormatUint(uint64(*c.exec.uid), 10))
		}
	}
	args = append(append(args, "--"), cmd...)
	return &exec.Cmd{Path: nsenter, Args: args, Env: c.exec.env, ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}, nil
}

// execShimPath is the binary that runs the exec shim, "" when there is
// none: the init helper's, if it is this binary only once MaybeRunInit ran.
func (p *Process) execShimPath() string {
	if p.initPath == selfExe && !initHookInstalled.Load() {
		return ""
	}
	return p.initPath
}

// closeExtraFiles closes what a started (or failed) exec command was
// passed besides its standard streams: the child has its own copies.
func closeExtraFiles(ec *exec.Cmd) {
	for _, f := range ec.ExtraFiles {
		_ = f.Close()
	}
}

// hostCommand runs exe on the host as c's workload runs.
func (c *container) hostCommand(exe string, cmd []string) *exec.Cmd {
	dir := c.exec.dir
	if dir == "" {
		dir = "/"
	}
	ec := &exec.Cmd{Path: exe, Args: cmd, Env: c.exec.env, Dir: dir,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if e := c.exec; e.uid != nil || e.gid != nil || len(e.groups) > 0 {
		cred := &syscall.Credential{Uid: uint32(syscall.Geteuid()), Gid: uint32(syscall.Getegid()), Groups: e.groups}
		if e.uid != nil {
			cred.Uid = *e.uid
		}
		if e.gid != nil {
			cred.Gid = *e.gid
		}
		ec.SysProcAttr.Credential = cred
	}
	return ec
}

// runExec starts ec, waits for it (killing its process group on timeout or
// when ctx ends) and returns its exit code and output.
func (p *Process) runExec(ctx context.Context, c *container, ec *exec.Cmd, cmd []string, timeout time.Duration) (ExecResult, error) {
	defer closeExtraFiles(ec)
	out := &cappedBuffer{max: MaxExecOutput}
	ec.Stdout, ec.Stderr, ec.WaitDelay = out, out, execWaitDelay
	if err := ec.Start(); err != nil {
		return ExecResult{}, fmt.Errorf("exec in %s: %w", c.id, err)
	}
	p.joinCgroup(c, ec.Process.Pid)
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	code, err := p.waitExec(waitCtx, c, ec)
	switch {
	case err != nil && ctx.Err() == nil && waitCtx.Err() != nil:
		return ExecResult{Output: out.Bytes()}, fmt.Errorf("%w after %s: %s", ErrExecTimeout, timeout, strings.Join(cmd, " "))
	case err != nil:
		return ExecResult{Output: out.Bytes()}, err
	}
	return ExecResult{Output: out.Bytes(), ExitCode: code}, nil
}

// exitCode is a finished command's exit code, 128+signal when a signal
// ended it (as a shell and the kubelet report it).
func exitCode(ps *os.ProcessState) int32 {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return int32(128 + ws.Signal())
	}
	return int32(ps.ExitCode())
}

// cappedBuffer keeps the first max bytes written to it and discards the
// rest without failing the writer.
type cappedBuffer struct {
	// mu guards buf: stdout and stderr may be copied concurrently.
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what was kept.
func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf)
}
