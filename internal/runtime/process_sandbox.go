package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// CreateSandbox implements Runtime.
func (p *Process) CreateSandbox(_ context.Context, spec SandboxSpec) (Sandbox, error) {
	if err := validName("pod uid", spec.PodUID); err != nil {
		return Sandbox{}, err
	}
	sb := Sandbox{PodUID: spec.PodUID, Dir: p.podDir(spec.PodUID), VolumePaths: map[string]string{}}
	for _, ed := range spec.EmptyDirs {
		if err := validName("emptyDir name", ed.Name); err != nil {
			return Sandbox{}, err
		}
		dir := VolumeDir(sb, ed.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return Sandbox{}, fmt.Errorf("creating emptyDir %q: %w", ed.Name, err)
		}
		// emptyDirs are world-writable, as the kubelet makes them.
		if err := os.Chmod(dir, 0o777); err != nil {
			return Sandbox{}, fmt.Errorf("creating emptyDir %q: %w", ed.Name, err)
		}
		sb.VolumePaths[ed.Name] = dir
		if !ed.Memory {
			continue
		}
		if err := mountTmpfs(dir, ed.SizeLimit); err != nil {
			sb.Warnings = append(sb.Warnings,
				fmt.Sprintf("emptyDir %q: medium Memory not available, using disk: %v", ed.Name, err))
		}
	}
	return sb, nil
}

// VolumeDir returns the host directory for the pod volume name; the agent
// populates configMap, secret, downwardAPI and projected volumes there.
func VolumeDir(sb Sandbox, name string) string {
	return filepath.Join(sb.Dir, "volumes", name)
}

// mountTmpfs mounts a tmpfs at dir unless one is mounted there already.
func mountTmpfs(dir string, size int64) error {
	if os.Geteuid() != 0 {
		return errors.New("mounting tmpfs needs root")
	}
	if mounted, err := isMountPoint(dir); err != nil || mounted {
		return err
	}
	opts := "mode=1777"
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting tmpfs: %w", err)
	}
	return nil
}

func isMountPoint(dir string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// RemoveSandbox implements Runtime.
func (p *Process) RemoveSandbox(ctx context.Context, podUID string) error {
	if err := validName("pod uid", podUID); err != nil {
		return err
	}
	p.mu.Lock()
	var ids []ContainerID
	for id, c := range p.containers {
		if c.podUID == podUID && !c.starting {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		if err := p.Remove(ctx, id); err != nil {
			return fmt.Errorf("removing sandbox %s: %w", podUID, err)
		}
	}
	dir := p.podDir(podUID)
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("removing sandbox %s: %w", podUID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing sandbox %s: %w", podUID, err)
	}
	return nil
}

// unmountUnder unmounts every mount at or below dir, deepest first, so that
// deleting dir never reaches into a mounted file system.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", mp, err)
		}
	}
	return nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for space, ...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
