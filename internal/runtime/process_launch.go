package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// logDrainTimeout bounds how long the waiter waits for the log pipes to close
// after the container's processes were killed (an escaped daemon may hold them).
const logDrainTimeout = 2 * time.Second

// pipes are the parent's ends of the helper's descriptors. With a TTY, outR
// is the terminal's controlling side and errR an empty pipe; stdinW is the
// workload's open standard input, nil without Stdin.
type pipes struct {
	cfgW, statusR, outR, errR, stdinW *os.File
}

// launch starts the helper, sends it cfg and waits until the workload was
// exec'ed or failed; on success the waiter and log copiers run.
func (p *Process) launch(ctx context.Context, c *container, cfg *initConfig) error {
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("creating log file: %w", err)
	}
	cmd, pp, err := p.startHelper(cfg, c.stdio, c.pidNamespaceOf, c.hostPID)
	if err != nil {
		logFile.Close()
		return err
	}
	c.pid, c.startedAt = cmd.Process.Pid, time.Now()
	abort := func(cause error) error {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		pp.outR.Close()
		pp.errR.Close()
		pp.statusR.Close()
		if pp.stdinW != nil {
			pp.stdinW.Close()
		}
		logFile.Close()
		return cause
	}
	c.stdio.connect(pp)
	if c.cg != nil {
		if err := c.cg.addProc(c.pid); err != nil {
			pp.cfgW.Close()
			return abort(fmt.Errorf("joining cgroup: %w", err))
		}
	}
	if err := writeConfig(pp.cfgW, cfg); err != nil {
		return abort(fmt.Errorf("sending container config: %w", err))
	}
	msg, err := readStatus(ctx, pp.statusR)
	if err != nil {
		return abort(err)
	}
	if msg != "" {
		return abort(&StartError{ID: c.id, Message: msg})
	}
	lw := newLogWriter(logFile)
	logsDone := make(chan struct{})
	p.wg.Add(4) // copyLogs, its two stream copiers, the waiter
	go p.copyLogs(lw, logFile, c.stdio, pp.outR, pp.errR, logsDone)
	go func() {
		defer p.wg.Done()
		p.waitProcess(c, cmd, logsDone, pp.outR, pp.errR)
	}()
	return nil
}

// helperEnv is the init helper's own environment (the workload's is in its
// config). The helper lives for a few milliseconds, most of them in the
// package initialisers of this large binary; without a collector or a second
// processor they take about 40% less CPU (45 ms -> 28 ms per container here).
// A built-in pause turns the collector back on (see runInit).
var helperEnv = []string{"GOGC=off", "GOMAXPROCS=1"}

// startHelper starts the init helper with its pipes, and with the standard
// input and terminal that stdio asks for. With namespaces it gets its own,
// but for the PID namespace: the host's with hostPID, or, when
// pidNamespaceOf is a process, that process's.
func (p *Process) startHelper(cfg *initConfig, stdio *attachIO, pidNamespaceOf int, hostPID bool) (*exec.Cmd, *pipes, error) {
	if p.initPath == selfExe && !initHookInstalled.Load() {
		return nil, nil, ErrNoInitHook
	}
	var parentEnds, childEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range 4 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(parentEnds)
			closeAll(childEnds)
			return nil, nil, fmt.Errorf("creating pipe: %w", err)
		}
		parentEnds, childEnds = append(parentEnds, r, w), append(childEnds, r, w)
	}
	// Layout: [cfgR cfgW statusR statusW outR outW errR errW].
	pp := &pipes{cfgW: parentEnds[1], statusR: parentEnds[2], outR: parentEnds[4], errR: parentEnds[6]}
	stdin, stdout, stderr, childOnly, err := pp.stdio(stdio, childEnds[5], childEnds[7])
	if err != nil {
		closeAll(parentEnds)
		closeAll(childEnds)
		return nil, nil, err
	}
	cmd := &exec.Cmd{
		Path: p.initPath, Args: []string{"skiff-container-init", initArg}, Env: helperEnv,
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
		ExtraFiles:  []*os.File{childEnds[0], childEnds[3]},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if stdio.tty {
		// The workload leads a session with the terminal as its controlling
		// one (fd 0); a session leader leads its process group too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	}
	if cfg.Namespaces {
		cmd.SysProcAttr.Cloneflags = nsCloneFlags
		if hostPID {
			cmd.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWPID
		}
	}
	if pidNamespaceOf > 0 {
		cmd.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWPID
		err = startInPIDNamespace(cmd, pidNamespaceOf)
	} else {
		err = cmd.Start()
	}
	closeAll(childOnly)
	for _, f := range []*os.File{childEnds[0], childEnds[3], childEnds[5], childEnds[7]} {
		f.Close()
	}
	if err != nil {
		closeAll([]*os.File{pp.cfgW, pp.statusR, pp.outR, pp.errR})
		if pp.stdinW != nil {
			pp.stdinW.Close()
		}
		return nil, nil, fmt.Errorf("starting container init: %w", err)
	}
	return cmd, pp, nil
}

// stdio picks the helper's standard streams: /dev/null or a pipe for input
// and the output pipes, or a new terminal for all three. It returns the
// descriptors only the child keeps (closed once it started) and sets the
// parent's ends in pp.
func (pp *pipes) stdio(stdio *attachIO, outW, errW *os.File) (stdin, stdout, stderr *os.File, childOnly []*os.File, err error) {
	if stdio.tty {
		term, tty, err := pty.Open()
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("opening a terminal: %w", err)
		}
		// The output pipes stay unused: their read ends see EOF at once.
		pp.outR.Close()
		pp.outR = term
		if stdio.wantStdin {
			pp.stdinW = term
		}
		return tty, tty, tty, []*os.File{tty}, nil
	}
	if stdio.wantStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("creating stdin pipe: %w", err)
		}
		pp.stdinW = w
		return r, outW, errW, []*os.File{r}, nil
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	return devNull, outW, errW, []*os.File{devNull}, nil
}

// readStatus reads the helper's status pipe: "" means the workload was
// exec'ed (the pipe closed on exec), anything else is the failure.
func readStatus(ctx context.Context, r *os.File) (string, error) {
	type result struct {
		msg string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, 64*1024))
		ch <- result{strings.TrimSpace(string(b)), err}
	}()
	select {
	case res := <-ch:
		r.Close()
		if res.err != nil {
			return "", fmt.Errorf("reading container init status: %w", res.err)
		}
		return res.msg, nil
	case <-ctx.Done():
		r.Close() // unblocks the reader once the caller kills the helper
		return "", fmt.Errorf("starting container: %w", ctx.Err())
	}
}

// copyLogs copies stdout and stderr into the log file, and to the clients
// attached through stdio, until both close.
func (p *Process) copyLogs(lw *logWriter, f *os.File, stdio *attachIO, outR, errR *os.File, done chan<- struct{}) {
	defer p.wg.Done()
	errc := make(chan error, 2)
	for _, s := range []struct {
		name string
		r    *os.File
	}{{streamStdout, outR}, {streamStderr, errR}} {
		go func() {
			defer p.wg.Done()
			errc <- lw.copyStream(s.name, io.TeeReader(s.r, stdio.tap(s.name)))
			s.r.Close()
		}()
	}
	for range 2 {
		if err := <-errc; err != nil && !errors.Is(err, os.ErrClosed) {
			p.logger.Warn("copying container output", "log", f.Name(), "err", err)
		}
	}
	f.Close()
	close(done)
}

// startInPIDNamespace starts cmd in the PID namespace of process pid.
// setns(CLONE_NEWPID) changes the namespace of the children of the calling
// thread only, and Go forks from the calling thread: so a goroutine locks
// a thread, switches it and starts cmd, and never unlocks it, so that the
// thread ends with the goroutine instead of serving others.
func startInPIDNamespace(cmd *exec.Cmd, pid int) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return fmt.Errorf("opening the PID namespace of %d: %w", pid, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWPID); err != nil {
			errc <- fmt.Errorf("entering the PID namespace of %d: %w", pid, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
