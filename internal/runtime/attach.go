package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// attachIO connects Attach to a running workload: its live output, its
// open standard input and its terminal.
type attachIO struct {
	// Set before the container is published, never changed afterwards.
	tty, wantStdin, stdinOnce bool
	// stdin receives attached clients' input; nil without the spec's Stdin.
	// With a TTY it is term.
	stdin io.WriteCloser
	// term is the controlling side of the workload's terminal; nil without
	// a TTY.
	term *os.File

	closeStdinOnce sync.Once

	// mu guards clients; a write to them holds it, so a slow client slows
	// the container's output, as a CRI runtime's attach does.
	mu      sync.Mutex
	clients map[*attachClient]struct{}
}

// attachClient is one attached client's output.
type attachClient struct {
	stdout, stderr io.Writer
}

// newAttachIO prepares the streams spec asks for. Its descriptors come from
// connect, once the helper runs.
func newAttachIO(spec *ContainerSpec) *attachIO {
	return &attachIO{tty: spec.TTY, wantStdin: spec.Stdin, stdinOnce: spec.StdinOnce, clients: map[*attachClient]struct{}{}}
}

// connect takes the parent's ends of the helper's streams.
func (a *attachIO) connect(pp *pipes) {
	if a.tty {
		a.term = pp.outR
	}
	if pp.stdinW != nil {
		a.stdin = pp.stdinW
	}
}

// closeStdin closes the workload's standard input once (StdinOnce, or the
// exit). A terminal stays open: it also carries the output.
func (a *attachIO) closeStdin() {
	if a.stdin == nil || a.tty {
		return
	}
	a.closeStdinOnce.Do(func() { _ = a.stdin.Close() })
}

// tap returns the writer that copies stream's output to attached clients.
func (a *attachIO) tap(stream string) io.Writer {
	return attachTap{a: a, stderr: stream == streamStderr}
}

type attachTap struct {
	a      *attachIO
	stderr bool
}

// Write sends p to every attached client; a client that fails is skipped:
// its Attach ends with its request.
func (t attachTap) Write(p []byte) (int, error) {
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	for c := range t.a.clients {
		w := c.stdout
		if t.stderr {
			w = c.stderr
		}
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return len(p), nil
}

// Attach implements Runtime. The client gets the output written from now
// on (with a TTY, the terminal's, on Stdout), and its Stdin reaches the
// workload when the spec kept standard input open (Stdin); with StdinOnce
// the end of the first client's input closes it. Resize sets the terminal's
// size. Attach returns once the container has exited (its output drained)
// or ctx ends.
func (p *Process) Attach(ctx context.Context, id ContainerID, streams ExecIO) error {
	c, err := p.lookup(id)
	if err != nil {
		return err
	}
	if c.exited() {
		return fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	a := c.stdio
	if a == nil {
		return fmt.Errorf("attach to %s, recovered after a restart: %w", id, errors.ErrUnsupported)
	}
	client := &attachClient{stdout: streams.Stdout, stderr: streams.Stderr}
	if a.tty {
		client.stderr = nil
	}
	a.mu.Lock()
	a.clients[client] = struct{}{}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.clients, client)
		a.mu.Unlock()
	}()

	if streams.Stdin != nil && a.stdin != nil {
		go func() {
			_, _ = io.Copy(a.stdin, streams.Stdin)
			if a.stdinOnce {
				a.closeStdin()
			}
		}()
	}
	stop := make(chan struct{})
	defer close(stop)
	if a.term != nil {
		go followResizes(a.term, streams.Resize, stop)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	return nil
}
