package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// StartContainer implements Runtime.
func (p *Process) StartContainer(ctx context.Context, spec ContainerSpec) (ContainerID, error) {
	if err := spec.validate(); err != nil {
		return "", err
	}
	id := spec.ID()
	if err := p.reserve(id); err != nil {
		return "", err
	}
	c, err := p.start(ctx, &spec)
	p.mu.Lock()
	if err != nil {
		delete(p.containers, id)
	} else {
		p.containers[id] = c
	}
	p.mu.Unlock()
	if err != nil {
		return "", err
	}
	p.logger.Debug("container started", "container", id, "pid", c.pid, "image", spec.Image)
	return id, nil
}

// reserve claims id for a StartContainer in flight.
func (p *Process) reserve(id ContainerID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if _, ok := p.containers[id]; ok {
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	p.containers[id] = &container{id: id, starting: true, done: make(chan struct{})}
	return nil
}

// start prepares files and launches the helper; on error nothing is left
// behind except the container's directory contents, which are removed.
func (p *Process) start(ctx context.Context, spec *ContainerSpec) (_ *container, err error) {
	img, err := p.images.Resolve(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("resolving image: %w", err)
	}
	args, err := argv(spec, &img)
	if err != nil {
		return nil, err
	}
	needNS := len(spec.Mounts) > 0 || spec.Hostname != ""
	if needNS && !p.caps.Namespaces {
		return nil, fmt.Errorf("%w: container %q needs volumes or a hostname, which need mount and UTS namespaces: %s",
			ErrNamespacesUnavailable, spec.Name, p.caps.Reason)
	}
	c := &container{
		id: spec.ID(), podUID: spec.PodUID, podNS: spec.PodNamespace, podName: spec.PodName,
		name: spec.Name, attempt: spec.Attempt, image: spec.Image,
		dir:     p.containerDir(spec.PodUID, spec.Name, spec.Attempt),
		logPath: p.logPath(spec.PodUID, spec.Name, spec.Attempt),
		done:    make(chan struct{}),
	}
	defer func() {
		if err != nil {
			_ = c.cg.remove()
			_ = os.RemoveAll(c.dir)
			_ = os.Remove(c.logPath)
		}
	}()
	cfg, err := p.initConfig(spec, &img, args, c)
	if err != nil {
		return nil, err
	}
	c.hostPID = spec.HostPID
	if spec.PIDNamespaceOf != "" && cfg.Namespaces && !spec.HostPID {
		target, err := p.lookup(spec.PIDNamespaceOf)
		if err != nil {
			return nil, fmt.Errorf("joining the PID namespace of %s: %w", spec.PIDNamespaceOf, err)
		}
		if target.exited() {
			return nil, fmt.Errorf("joining the PID namespace of %s: %w", spec.PIDNamespaceOf, ErrNotRunning)
		}
		c.pidNamespaceOf = target.pid
	}
	c.exec, c.stdio = newExecEnv(cfg), newAttachIO(spec)
	if c.cg, err = p.cgroups.create(string(c.id), spec.MemoryLimit, spec.CPULimitMilli); err != nil {
		return nil, err
	}
	if err := p.launch(ctx, c, cfg); err != nil {
		return nil, err
	}
	if err := p.saveState(c); err != nil {
		p.logger.Warn("saving container state", "container", c.id, "err", err)
	}
	return c, nil
}

// initConfig creates the container's directory and files and builds the
// helper's configuration.
func (p *Process) initConfig(spec *ContainerSpec, img *Image, args []string, c *container) (*initConfig, error) {
	for _, d := range []string{c.dir, filepath.Dir(c.logPath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating container directory: %w", err)
		}
	}
	cfg := &initConfig{
		Argv: args, Dir: spec.WorkingDir, Namespaces: p.caps.Namespaces, Hostname: spec.Hostname,
		Pause: img.Pause, FallbackBinDir: img.FallbackBinDir,
	}
	cfg.Env = environ(spec, img, spec.Hostname)
	if !cfg.Namespaces && img.FallbackBinDir != "" {
		cfg.Env = prependPath(cfg.Env, img.FallbackBinDir)
	}
	if err := setCredentials(cfg, spec); err != nil {
		return nil, err
	}
	termPath := spec.TerminationMessagePath
	if termPath == "" {
		termPath = DefaultTerminationMessagePath
	}
	if !cfg.Namespaces {
		// Without a mount namespace the container sees the host's files: its
		// message is wherever it writes it, but never the host's /dev.
		if termPath != DefaultTerminationMessagePath {
			c.termLog = termPath
		}
		return cfg, nil
	}
	cfg.RootDir, cfg.NewRoot = img.RootDir, filepath.Join(c.dir, "rootfs")
	if err := os.MkdirAll(cfg.NewRoot, 0o755); err != nil {
		return nil, fmt.Errorf("creating container root: %w", err)
	}
	c.termLog = filepath.Join(c.dir, "termination-log")
	// World-writable so that containers running as any user can write it.
	if err := os.WriteFile(c.termLog, nil, 0o666); err != nil {
		return nil, fmt.Errorf("creating termination-log: %w", err)
	}
	if err := os.Chmod(c.termLog, 0o666); err != nil {
		return nil, fmt.Errorf("creating termination-log: %w", err)
	}
	cfg.TermLog, cfg.TermLogPath = c.termLog, termPath
	mounts, err := resolveMounts(spec.Mounts)
	if err != nil {
		return nil, err
	}
	cfg.Mounts = mounts
	return cfg, nil
}

func setCredentials(cfg *initConfig, spec *ContainerSpec) error {
	toID := func(what string, v int64) (*uint32, error) {
		if v < 0 || v > int64(^uint32(0)) {
			return nil, fmt.Errorf("%w: %s %d out of range", ErrInvalidSpec, what, v)
		}
		u := uint32(v)
		return &u, nil
	}
	var err error
	if spec.RunAsUser != nil {
		if cfg.UID, err = toID("runAsUser", *spec.RunAsUser); err != nil {
			return err
		}
	}
	if spec.RunAsGroup != nil {
		if cfg.GID, err = toID("runAsGroup", *spec.RunAsGroup); err != nil {
			return err
		}
	} else if cfg.UID != nil {
		zero := uint32(0)
		cfg.GID = &zero
	}
	for _, g := range spec.SupplementalGroups {
		id, err := toID("supplementalGroups", g)
		if err != nil {
			return err
		}
		cfg.Groups = append(cfg.Groups, *id)
	}
	return nil
}

func prependPath(env []string, dir string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + dir + ":" + v
			return env
		}
	}
	return append(env, "PATH="+dir)
}

// resolveMounts applies SubPath (creating it like the kubelet does) and
// checks that it stays inside its volume, symlinks included.
func resolveMounts(mounts []Mount) ([]initMount, error) {
	out := make([]initMount, 0, len(mounts))
	for _, m := range mounts {
		src := m.HostPath
		if m.SubPath != "" {
			base, err := filepath.EvalSymlinks(m.HostPath)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", m.HostPath, err)
			}
			src = filepath.Join(base, m.SubPath)
			if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("creating subPath %q: %w", m.SubPath, err)
				}
			}
			real, err := filepath.EvalSymlinks(src)
			if err != nil {
				return nil, fmt.Errorf("subPath %q: %w", m.SubPath, err)
			}
			if real != base && !strings.HasPrefix(real, base+string(filepath.Separator)) {
				return nil, fmt.Errorf("%w: subPath %q escapes its volume", ErrInvalidSpec, m.SubPath)
			}
			src = real
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("volume source: %w", err)
		}
		out = append(out, initMount{Source: src, Target: filepath.Clean(m.ContainerPath), ReadOnly: m.ReadOnly})
	}
	return out, nil
}

// writeConfig sends cfg to the helper and closes the pipe.
func writeConfig(w io.WriteCloser, cfg *initConfig) error {
	err := json.NewEncoder(w).Encode(cfg)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}
