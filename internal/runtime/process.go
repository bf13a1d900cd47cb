package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// ProcessConfig configures NewProcess.
type ProcessConfig struct {
	// Dir is the data directory: pods/<uid>/ holds volumes, logs and container
	// state, images/ the prepared image roots. Required; created if missing.
	Dir string
	// Logger receives runtime logs; nil discards them.
	Logger *slog.Logger
	// Images resolves image references; nil uses NewBuiltinImages(Dir/images).
	Images ImageResolver
	// DisableNamespaces runs containers without mount/UTS/PID namespaces even
	// when the host allows them (specs that need them then fail).
	DisableNamespaces bool
	// DisableCgroups runs containers without resource limits.
	DisableCgroups bool
	// KillTimeout bounds the wait for a container to exit after SIGKILL.
	// Default 10s.
	KillTimeout time.Duration
	// InitPath is the binary re-executed as the container init helper; it must
	// call MaybeRunInit first. Default /proc/self/exe.
	InitPath string
}

// Process is the process runtime: every container is a local process (the
// re-executed init helper, which execs the workload) in its own process
// group, with stdout and stderr captured to a CRI-format log file.
type Process struct {
	dir         string
	logger      *slog.Logger
	images      ImageResolver
	caps        Capabilities
	cgroups     *cgroupManager
	killTimeout time.Duration
	initPath    string

	// mu guards containers and closed. Container fields have their own
	// synchronisation (see container).
	mu         sync.Mutex
	containers map[ContainerID]*container
	closed     bool

	// stopRecovered ends the pollers that watch recovered processes.
	stopRecovered chan struct{}
	// wg tracks every goroutine the runtime starts (waiters, log copiers,
	// pollers); Close waits for it.
	wg sync.WaitGroup
}

var _ Runtime = (*Process)(nil)

// NewProcess creates the process runtime, detects the host's namespace and
// cgroup support and recovers containers recorded in cfg.Dir by a previous run.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("process runtime: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("process runtime: creating data directory: %w", err)
	}
	p := &Process{
		dir: dir, logger: cfg.Logger, images: cfg.Images, killTimeout: cfg.KillTimeout,
		initPath: cfg.InitPath, containers: map[ContainerID]*container{},
		stopRecovered: make(chan struct{}),
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.logger = p.logger.With("component", "process-runtime")
	if p.killTimeout <= 0 {
		p.killTimeout = 10 * time.Second
	}
	if p.initPath == "" {
		p.initPath = selfExe
	}
	if p.images == nil {
		b, err := NewBuiltinImages(BuiltinImagesConfig{Dir: filepath.Join(dir, "images")})
		if err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
		p.images = b
		p.caps.Busybox = b.BusyboxPath()
	}
	p.detectCapabilities(cfg)
	p.recover()
	p.logger.Info("process runtime started", "dir", dir, "namespaces", p.caps.Namespaces,
		"cgroupVersion", p.caps.CgroupVersion, "busybox", p.caps.Busybox, "limitations", p.caps.Reason)
	return p, nil
}

// detectCapabilities probes namespaces and cgroups.
func (p *Process) detectCapabilities(cfg ProcessConfig) {
	p.caps.Network = true // containers are host processes
	var reasons []string
	switch {
	case cfg.DisableNamespaces:
		reasons = append(reasons, "namespaces disabled by configuration")
	case os.Geteuid() != 0:
		reasons = append(reasons, "namespaces need root (not running as root)")
	default:
		if err := probeNamespaces(); err != nil {
			reasons = append(reasons, fmt.Sprintf("creating namespaces failed: %v", err))
		} else {
			p.caps.Namespaces = true
		}
	}
	p.cgroups = detectCgroups(cfg.DisableCgroups)
	p.caps.CgroupVersion = p.cgroups.version
	if p.cgroups.reason != "" {
		reasons = append(reasons, p.cgroups.reason)
	}
	if p.caps.Busybox == "" {
		reasons = append(reasons, "busybox images unavailable: "+ErrBusyboxMissing.Error())
	}
	for i, r := range reasons {
		if i > 0 {
			p.caps.Reason += "; "
		}
		p.caps.Reason += r
	}
}

// selfExe is the default init helper: this very binary.
const selfExe = "/proc/self/exe"

// nsCloneFlags are the namespaces each container gets.
const nsCloneFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID

// probeNamespaces starts a trivial process in new namespaces.
func probeNamespaces() error {
	bin, err := exec.LookPath("true")
	if err != nil {
		bin = "/proc/self/exe"
	}
	cmd := exec.Command(bin)
	if bin == "/proc/self/exe" {
		cmd.Args = []string{bin, "-h"}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: nsCloneFlags}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = cmd.Wait()
	return nil
}

// Capabilities implements Runtime.
func (p *Process) Capabilities() Capabilities { return p.caps }

// lookup returns a started (or recovered) container.
func (p *Process) lookup(id ContainerID) (*container, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.containers[id]
	if !ok || c.starting {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return c, nil
}

// Status implements Runtime.
func (p *Process) Status(_ context.Context, id ContainerID) (ContainerStatus, error) {
	c, err := p.lookup(id)
	if err != nil {
		return ContainerStatus{}, err
	}
	return c.status(), nil
}

// List implements Runtime; the result is sorted by ID.
func (p *Process) List(_ context.Context) ([]ContainerStatus, error) {
	p.mu.Lock()
	cs := make([]*container, 0, len(p.containers))
	for _, c := range p.containers {
		if !c.starting {
			cs = append(cs, c)
		}
	}
	p.mu.Unlock()
	out := make([]ContainerStatus, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Close stops accepting containers and ends the runtime's pollers, then waits
// until ctx ends for its goroutines. It kills nothing: containers still
// running keep their waiter goroutines, so Stop or Remove them first for a
// full drain (Close then returns nil), otherwise Close returns ctx.Err().
func (p *Process) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stopRecovered)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// podDir, containerDir and logPath give the on-disk layout.
func (p *Process) podDir(podUID string) string { return filepath.Join(p.dir, "pods", podUID) }

func (p *Process) containerDir(podUID, name string, attempt int32) string {
	return filepath.Join(p.podDir(podUID), "containers", fmt.Sprintf("%s_%d", name, attempt))
}

func (p *Process) logPath(podUID, name string, attempt int32) string {
	return filepath.Join(p.podDir(podUID), "logs", name, fmt.Sprintf("%d.log", attempt))
}
