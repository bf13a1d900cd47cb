package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ExecIO connects a streaming exec (kubectl exec) to its command.
type ExecIO struct {
	// Stdin, when not nil, is copied to the command's standard input.
	// Without a TTY its end closes that input.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it. With
	// a TTY the terminal's output, both streams, goes to Stdout.
	Stdout, Stderr io.Writer
	// TTY runs the command on a new pseudo-terminal, as its controlling
	// terminal.
	TTY bool
	// Resize, when not nil, delivers the client's terminal size changes
	// (TTY only).
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}

// Exec implements Runtime. The command runs as ExecSync runs it (see there),
// with its standard streams connected to streams, until it exits; the end of
// ctx kills its process group.
func (p *Process) Exec(ctx context.Context, id ContainerID, cmd []string, streams ExecIO) (int32, error) {
	c, ec, notFound, err := p.execCommand(id, cmd)
	if err != nil {
		return 0, err
	}
	if ec == nil {
		out := streams.Stderr
		if streams.TTY || out == nil {
			out = streams.Stdout
		}
		if out != nil {
			_, _ = out.Write(notFound.Output)
		}
		return notFound.ExitCode, nil
	}
	if streams.TTY {
		return p.execTerminal(ctx, c, ec, streams)
	}
	return p.execPipes(ctx, c, ec, streams)
}

// execPipes runs ec with pipes for its standard streams.
func (p *Process) execPipes(ctx context.Context, c *container, ec *exec.Cmd, streams ExecIO) (int32, error) {
	defer closeExtraFiles(ec)
	ec.Stdout, ec.Stderr, ec.WaitDelay = orDiscard(streams.Stdout), orDiscard(streams.Stderr), execWaitDelay
	var stdin io.WriteCloser
	if streams.Stdin != nil {
		var err error
		if stdin, err = ec.StdinPipe(); err != nil {
			return 0, fmt.Errorf("exec in %s: %w", c.id, err)
		}
	}
	if err := ec.Start(); err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.id, err)
	}
	if stdin != nil {
		// Not part of Wait: a client that never closes its input must not
		// hold the exec open after the command exited (Wait closes the pipe).
		go func() {
			_, _ = io.Copy(stdin, streams.Stdin)
			_ = stdin.Close()
		}()
	}
	p.joinCgroup(c, ec.Process.Pid)
	return p.waitExec(ctx, c, ec)
}

// execTerminal runs ec on a new pseudo-terminal.
func (p *Process) execTerminal(ctx context.Context, c *container, ec *exec.Cmd, streams ExecIO) (int32, error) {
	defer closeExtraFiles(ec)
	// The command leads a new session with the terminal as its controlling
	// one. A session leader leads its own process group too, so the group
	// kill in waitExec still reaches it and its children.
	attrs := &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if ec.SysProcAttr != nil {
		attrs.Credential = ec.SysProcAttr.Credential
	}
	term, err := pty.StartWithAttrs(ec, nil, attrs)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.id, err)
	}
	defer term.Close() // ends the copies below
	p.joinCgroup(c, ec.Process.Pid)

	stop := make(chan struct{})
	defer close(stop)
	go followResizes(term, streams.Resize, stop)
	if streams.Stdin != nil {
		go func() { _, _ = io.Copy(term, streams.Stdin) }()
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(orDiscard(streams.Stdout), term)
		close(copied)
	}()
	code, err := p.waitExec(ctx, c, ec)
	// The output ends when the last process holding the terminal closes it;
	// a background child may hold it, so wait a bounded time.
	t := time.NewTimer(execWaitDelay)
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C:
	}
	return code, err
}

// joinCgroup moves pid into c's cgroup (when limits are enforced), so that
// stopping the container also kills it.
func (p *Process) joinCgroup(c *container, pid int) {
	if c.cg == nil {
		return
	}
	if err := c.cg.addProc(pid); err != nil {
		p.logger.Debug("exec: joining the container's cgroup", "container", c.id, "err", err)
	}
}

// waitExec waits for the started ec, killing its process group when ctx
// ends, and returns its exit code.
func (p *Process) waitExec(ctx context.Context, c *container, ec *exec.Cmd) (int32, error) {
	done := make(chan error, 1) // buffered: the waiter never blocks
	go func() { done <- ec.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-ec.Process.Pid, syscall.SIGKILL)
		<-done
		return 0, fmt.Errorf("exec in %s: %w", c.id, ctx.Err())
	}
	var ee *exec.ExitError
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) && !errors.As(err, &ee) {
		return 0, fmt.Errorf("exec in %s: %w", c.id, err)
	}
	return exitCode(ec.ProcessState), nil
}

// followResizes applies the client's terminal sizes to term until sizes
// closes or stop is closed.
func followResizes(term *os.File, sizes <-chan TerminalSize, stop <-chan struct{}) {
	if sizes == nil {
		return
	}
	for {
		select {
		case size, ok := <-sizes:
			if !ok {
				return
			}
			setTerminalSize(term, size)
		case <-stop:
			return
		}
	}
}

// setTerminalSize sets the size of the terminal whose controlling side is
// term. Unlike pty.Setsize it leaves term non-blocking (File.Fd would make it
// blocking), so that closing term still ends a read from it.
func setTerminalSize(term *os.File, size TerminalSize) {
	conn, err := term.SyscallConn()
	if err != nil {
		return
	}
	_ = conn.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: size.Height, Col: size.Width})
	})
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
