package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fake is a runtime whose containers run no process: each finishes at once or
// after FakeBehavior.Duration with FakeBehavior.ExitCode, and reacts to Stop as
// FakeBehavior.TermDelay says. It keeps everything in memory (a few hundred
// bytes per container) and is meant for benchmarks and scale tests, as kwok.
type Fake struct {
	// mu guards containers and every fakeContainer's mutable fields; one lock
	// keeps the per-container footprint small.
	mu         sync.Mutex
	containers map[ContainerID]*fakeContainer
	// byPod indexes containers by pod UID, so that removing a sandbox does
	// not scan every container of the node.
	byPod map[string]map[ContainerID]*fakeContainer
}

var _ Runtime = (*Fake)(nil)

// NewFake returns an empty fake runtime.
func NewFake() *Fake {
	return &Fake{containers: map[ContainerID]*fakeContainer{}, byPod: map[string]map[ContainerID]*fakeContainer{}}
}

type fakeContainer struct {
	id        ContainerID
	podUID    string
	podNS     string
	podName   string
	image     string
	behavior  FakeBehavior
	startedAt time.Time
	// done is closed when the container finishes; exit is set before, under mu.
	done   chan struct{}
	exit   ExitStatus
	timers []*time.Timer
}

// closedChan is shared by containers that finish at once (no allocation).
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// CreateSandbox implements Runtime; the fake keeps no files (Sandbox.Dir is "").
func (f *Fake) CreateSandbox(_ context.Context, spec SandboxSpec) (Sandbox, error) {
	if err := validName("pod uid", spec.PodUID); err != nil {
		return Sandbox{}, err
	}
	return Sandbox{PodUID: spec.PodUID}, nil
}

// RemoveSandbox implements Runtime.
func (f *Fake) RemoveSandbox(_ context.Context, podUID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.byPod[podUID] {
		f.finishLocked(c, 137, int(syscall.SIGKILL))
		delete(f.containers, id)
	}
	delete(f.byPod, podUID)
	return nil
}

// StartContainer implements Runtime.
func (f *Fake) StartContainer(_ context.Context, spec ContainerSpec) (ContainerID, error) {
	if err := spec.validate(); err != nil {
		return "", err
	}
	id := spec.ID()
	c := &fakeContainer{id: id, podUID: spec.PodUID, podNS: spec.PodNamespace, podName: spec.PodName, image: spec.Image,
		behavior: spec.Fake, startedAt: time.Now()}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; ok {
		return "", fmt.Errorf("%w: %s", ErrExists, id)
	}
	f.containers[id] = c
	if f.byPod[c.podUID] == nil {
		f.byPod[c.podUID] = map[ContainerID]*fakeContainer{}
	}
	f.byPod[c.podUID][id] = c
	switch d := spec.Fake.Duration; {
	case d == 0:
		c.exit = fakeExit(c, spec.Fake.ExitCode, 0, c.startedAt)
		c.done = closedChan
	case d > 0:
		c.done = make(chan struct{})
		c.timers = append(c.timers, time.AfterFunc(d, func() { f.finish(c, spec.Fake.ExitCode, 0) }))
	default:
		c.done = make(chan struct{})
	}
	return id, nil
}

func fakeExit(c *fakeContainer, code int32, sig int, at time.Time) ExitStatus {
	st := ExitStatus{ExitCode: code, Signal: sig, Reason: ReasonError, StartedAt: c.startedAt, FinishedAt: at}
	if code == 0 {
		st.Reason = ReasonCompleted
	}
	return st
}

func (f *Fake) finish(c *fakeContainer, code int32, sig int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishLocked(c, code, sig)
}

// finishLocked ends c once; later calls do nothing. f.mu must be held.
func (f *Fake) finishLocked(c *fakeContainer, code int32, sig int) {
	select {
	case <-c.done:
		return
	default:
	}
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	c.exit = fakeExit(c, code, sig, time.Now())
	close(c.done)
}

func (f *Fake) lookup(id ContainerID) (*fakeContainer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return c, nil
}

// Wait implements Runtime.
func (f *Fake) Wait(ctx context.Context, id ContainerID) (ExitStatus, error) {
	c, err := f.lookup(id)
	if err != nil {
		return ExitStatus{}, err
	}
	select {
	case <-c.done:
		f.mu.Lock()
		defer f.mu.Unlock()
		return c.exit, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

// Stop implements Runtime: the container exits with 143 after TermDelay when
// that is within grace, otherwise with 137 at the end of grace.
func (f *Fake) Stop(ctx context.Context, id ContainerID, grace time.Duration) error {
	c, err := f.lookup(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	f.mu.Lock()
	term := c.behavior.TermDelay
	switch {
	case isClosed(c.done):
	case grace > 0 && term >= 0 && term < grace:
		f.schedule(c, term, 128+int32(syscall.SIGTERM), int(syscall.SIGTERM))
	case grace > 0:
		f.schedule(c, grace, 128+int32(syscall.SIGKILL), int(syscall.SIGKILL))
	default:
		f.finishLocked(c, 128+int32(syscall.SIGKILL), int(syscall.SIGKILL))
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// schedule ends c after d (at once when d is 0). f.mu must be held.
func (f *Fake) schedule(c *fakeContainer, d time.Duration, code int32, sig int) {
	if d <= 0 {
		f.finishLocked(c, code, sig)
		return
	}
	c.timers = append(c.timers, time.AfterFunc(d, func() { f.finish(c, code, sig) }))
}

// Remove implements Runtime.
func (f *Fake) Remove(_ context.Context, id ContainerID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		f.finishLocked(c, 128+int32(syscall.SIGKILL), int(syscall.SIGKILL))
		f.forgetLocked(c)
	}
	return nil
}

// forgetLocked drops c from both maps. Called with mu held.
func (f *Fake) forgetLocked(c *fakeContainer) {
	delete(f.containers, c.id)
	if pod := f.byPod[c.podUID]; pod != nil {
		if delete(pod, c.id); len(pod) == 0 {
			delete(f.byPod, c.podUID)
		}
	}
}

// Status implements Runtime.
func (f *Fake) Status(_ context.Context, id ContainerID) (ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return ContainerStatus{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return c.statusLocked(), nil
}

func (c *fakeContainer) statusLocked() ContainerStatus {
	podUID, name, attempt, _ := ParseContainerID(c.id)
	st := ContainerStatus{ID: c.id, PodUID: podUID, PodNamespace: c.podNS, PodName: c.podName, Name: name,
		Attempt: attempt, Image: c.image, State: StateRunning, StartedAt: c.startedAt}
	select {
	case <-c.done:
		exit := c.exit
		st.State, st.Exit = StateExited, &exit
	default:
	}
	return st
}

// List implements Runtime; the result is sorted by ID.
func (f *Fake) List(_ context.Context) ([]ContainerStatus, error) {
	f.mu.Lock()
	out := make([]ContainerStatus, 0, len(f.containers))
	for _, c := range f.containers {
		out = append(out, c.statusLocked())
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Logs implements Runtime: FakeBehavior.Output, one stdout line per line,
// timestamped with the start time.
func (f *Fake) Logs(ctx context.Context, id ContainerID, opts LogOptions, w io.Writer) error {
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	data := c.criLog()
	r := bytes.NewReader(data)
	if opts.TailLines >= 0 {
		off, err := tailOffset(r, int64(len(data)), opts.TailLines)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data[off:])
	}
	err = copyLog(ctx, r, opts, &limitWriter{w: w, limit: opts.LimitBytes}, c.done)
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// criLog renders the fake output in the CRI log format.
func (c *fakeContainer) criLog() []byte {
	out := c.behavior.Output
	if out == "" {
		return nil
	}
	ts := c.startedAt.UTC().Format(criTimeFormat)
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		b.WriteString(ts + " " + streamStdout + " F " + line + "\n")
	}
	return b.Bytes()
}

// TerminationMessage implements Runtime: the fake writes no message file, so
// only the log fallback can produce one.
func (f *Fake) TerminationMessage(ctx context.Context, id ContainerID, fallbackToLogsOnError bool) (string, error) {
	c, err := f.lookup(id)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	failed := c.exit.ExitCode != 0
	f.mu.Unlock()
	if !fallbackToLogsOnError || !failed {
		return "", nil
	}
	buf := tailBuffer{max: MaxTerminationMessageLogLength}
	if err := f.Logs(ctx, id, LogOptions{TailLines: MaxTerminationMessageLogLines}, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// ExecSync implements Runtime: it runs nothing. A running container answers
// every command (cmd may be empty: the agent sends the fake its httpGet,
// tcpSocket and grpc probes too, see Capabilities.Network) with exit code
// FakeBehavior.ExecExitCode and no output; an exited one with ErrNotRunning.
func (f *Fake) ExecSync(_ context.Context, id ContainerID, _ []string, _ time.Duration) (ExecResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return ExecResult{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if isClosed(c.done) {
		return ExecResult{}, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	return ExecResult{ExitCode: c.behavior.ExecExitCode}, nil
}

// Exec implements Runtime as ExecSync: it runs nothing, reads no input,
// writes no output and exits with FakeBehavior.ExecExitCode.
func (f *Fake) Exec(ctx context.Context, id ContainerID, cmd []string, _ ExecIO) (int32, error) {
	res, err := f.ExecSync(ctx, id, cmd, 0)
	return res.ExitCode, err
}

// Attach implements Runtime: the fake's workload writes nothing and reads
// nothing, so Attach waits until the container exits or ctx ends.
func (f *Fake) Attach(ctx context.Context, id ContainerID, _ ExecIO) error {
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	if isClosed(c.done) {
		return fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	return nil
}

// Capabilities implements Runtime: the fake pretends to support everything.
func (f *Fake) Capabilities() Capabilities {
	return Capabilities{Namespaces: true, Reason: "fake runtime: no processes run, probes answer with FakeBehavior.ExecExitCode"}
}
