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
)

// waitProcess reaps the helper, kills what is left of its process group,
// drains the logs and publishes the exit status.
func (p *Process) waitProcess(c *container, cmd *exec.Cmd, logsDone <-chan struct{}, outR, errR *os.File) {
	_ = cmd.Wait()
	finished := time.Now()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	// As container engines do when init exits: nothing of the container may
	// outlive it (with a PID namespace the kernel has done this already).
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	c.cg.killAll()
	select {
	case <-logsDone:
	case <-time.After(logDrainTimeout):
		outR.Close()
		errR.Close()
		<-logsDone
	}
	c.stdio.closeStdin()
	c.exit = exitStatusFrom(ws, c.cg.oomKilled(), c.startedAt, finished)
	if err := p.saveExit(c); err != nil {
		p.logger.Warn("saving container exit", "container", c.id, "err", err)
	}
	if err := c.cg.remove(); err != nil {
		p.logger.Warn("removing cgroup", "container", c.id, "err", err)
	}
	close(c.done)
	p.logger.Debug("container exited", "container", c.id, "exitCode", c.exit.ExitCode, "reason", c.exit.Reason)
}

// Wait implements Runtime.
func (p *Process) Wait(ctx context.Context, id ContainerID) (ExitStatus, error) {
	c, err := p.lookup(id)
	if err != nil {
		return ExitStatus{}, err
	}
	select {
	case <-c.done:
		return c.exit, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

// Stop implements Runtime.
func (p *Process) Stop(ctx context.Context, id ContainerID, grace time.Duration) error {
	c, err := p.lookup(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return p.stop(ctx, c, grace)
}

func (p *Process) stop(ctx context.Context, c *container, grace time.Duration) error {
	if c.exited() {
		return nil
	}
	if grace > 0 {
		c.signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	c.signal(syscall.SIGKILL)
	t := time.NewTimer(p.killTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("stopping %s: %w", c.id, ErrStopTimeout)
	}
}

// Remove implements Runtime.
func (p *Process) Remove(ctx context.Context, id ContainerID) error {
	c, err := p.lookup(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if err := p.stop(ctx, c, 0); err != nil {
		return fmt.Errorf("removing %s: %w", id, err)
	}
	p.mu.Lock()
	if p.containers[id] == c {
		delete(p.containers, id)
	}
	p.mu.Unlock()
	var errs []error
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(c.logPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing %s: %w", id, err)
	}
	return nil
}

// Logs implements Runtime.
func (p *Process) Logs(ctx context.Context, id ContainerID, opts LogOptions, w io.Writer) error {
	c, err := p.lookup(id)
	if err != nil {
		return err
	}
	return ReadLogFile(ctx, c.logPath, opts, w, c.done)
}

// TerminationMessage implements Runtime.
func (p *Process) TerminationMessage(ctx context.Context, id ContainerID, fallbackToLogsOnError bool) (string, error) {
	c, err := p.lookup(id)
	if err != nil {
		return "", err
	}
	var exitCode int32
	if c.exited() {
		exitCode = c.exit.ExitCode
	}
	return terminationMessage(ctx, c.termLog, c.logPath, exitCode, fallbackToLogsOnError)
}
