package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// buildRoot runs in the helper, inside fresh mount, UTS and PID namespaces:
// it builds the container's root on a tmpfs at cfg.NewRoot (image or host
// directories bound in, a private /dev and /proc, the volumes, the
// termination-log file) and chroots into it. Everything is undone by the
// kernel when the namespace's last process exits.
func buildRoot(cfg *initConfig) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := cfg.NewRoot
	if err := syscall.Mount("tmpfs", root, "tmpfs", syscall.MS_NOSUID, "mode=755"); err != nil {
		return fmt.Errorf("mounting container root: %w", err)
	}
	var err error
	if cfg.RootDir == "" {
		err = bindHostRoot(root)
	} else {
		err = bindImageRoot(root, cfg)
	}
	if err != nil {
		return err
	}
	if err := setupDev(root); err != nil {
		return err
	}
	if err := mountAt(root, "proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC); err != nil {
		return err
	}
	if err := bindVolumes(root, cfg); err != nil {
		return err
	}
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("entering container root: %w", err)
	}
	return os.Chdir("/")
}

// bindHostRoot mirrors the host's top-level entries (except /proc, /dev, /sys,
// which get private or read-only instances) into root.
func bindHostRoot(root string) error {
	entries, err := os.ReadDir("/")
	if err != nil {
		return fmt.Errorf("reading host root: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch name {
		case "proc", "dev":
			continue
		}
		if err := mirrorEntry("/"+name, filepath.Join(root, name), false); err != nil {
			return err
		}
	}
	return nil
}

// bindImageRoot binds the image's top-level directories read-only and gives
// the container private writable /tmp, /root, /home, /var and a generated /etc.
func bindImageRoot(root string, cfg *initConfig) error {
	entries, err := os.ReadDir(cfg.RootDir)
	if err != nil {
		return fmt.Errorf("reading image root: %w", err)
	}
	for _, e := range entries {
		if err := mirrorEntry(filepath.Join(cfg.RootDir, e.Name()), filepath.Join(root, e.Name()), true); err != nil {
			return err
		}
	}
	for dir, mode := range map[string]os.FileMode{"tmp": 0o1777, "root": 0o700, "home": 0o755, "var": 0o755, "etc": 0o755} {
		p := filepath.Join(root, dir)
		if err := os.Mkdir(p, mode); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating /%s: %w", dir, err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("creating /%s: %w", dir, err)
		}
	}
	return writeEtc(filepath.Join(root, "etc"), cfg.Hostname)
}

// writeEtc writes the files an image root needs in /etc.
func writeEtc(etc, hostname string) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if hostname != "" {
		hosts += "127.0.1.1\t" + hostname + "\n"
	}
	files := map[string]string{
		"passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"group":    "root:x:0:\nnobody:x:65534:\n",
		"hosts":    hosts,
		"hostname": hostname + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing /etc/%s: %w", name, err)
		}
	}
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		return bindFile("/etc/resolv.conf", filepath.Join(etc, "resolv.conf"), true)
	}
	return nil
}

// mirrorEntry reproduces src at dst: symlinks are copied, directories and
// files are bound (recursively), read-only when ro.
func mirrorEntry(src, dst string, ro bool) error {
	st, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("mirroring %s: %w", src, err)
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("mirroring %s: %w", src, err)
		}
		return os.Symlink(target, dst)
	case st.IsDir():
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("mirroring %s: %w", src, err)
		}
		return bindMount(src, dst, ro)
	default:
		return bindFile(src, dst, ro)
	}
}

// bindFile creates an empty file at dst and binds src over it.
func bindFile(src, dst string, ro bool) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating mount point %s: %w", dst, err)
	}
	f.Close()
	return bindMount(src, dst, ro)
}

func bindMount(src, dst string, ro bool) error {
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s at %s: %w", src, dst, err)
	}
	if !ro {
		return nil
	}
	flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
	if err := syscall.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", dst, err)
	}
	return nil
}

// mountAt mounts a filesystem of type fstype at root+target.
func mountAt(root, source, target, fstype string, flags uintptr) error {
	p := filepath.Join(root, target)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", target, err)
	}
	if err := syscall.Mount(source, p, fstype, flags, ""); err != nil {
		return fmt.Errorf("mounting %s at %s: %w", fstype, target, err)
	}
	return nil
}

// setupDev gives the container a private /dev: a tmpfs with the usual device
// nodes bound from the host, the host's /dev/pts (the terminals of
// `kubectl exec -t` are allocated there, and a command finds its own by
// name) with the /dev/ptmx link, /dev/shm and the std* links.
func setupDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := mountAt(root, "tmpfs", "/dev", "tmpfs", syscall.MS_NOSUID); err != nil {
		return err
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if _, err := os.Stat("/dev/" + name); err != nil {
			continue
		}
		if err := bindFile("/dev/"+name, filepath.Join(dev, name), false); err != nil {
			return err
		}
	}
	if err := mountAt(root, "shm", "/dev/shm", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV); err != nil {
		return err
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	if st, err := os.Stat("/dev/pts"); err == nil && st.IsDir() {
		if err := os.Mkdir(filepath.Join(dev, "pts"), 0o755); err != nil {
			return fmt.Errorf("creating /dev/pts: %w", err)
		}
		if err := bindMount("/dev/pts", filepath.Join(dev, "pts"), false); err != nil {
			return err
		}
		links["ptmx"] = "pts/ptmx"
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", name, err)
		}
	}
	return nil
}

// bindVolumes binds the volumes and the termination-log file, parents first.
func bindVolumes(root string, cfg *initConfig) error {
	mounts := append([]initMount(nil), cfg.Mounts...)
	if cfg.TermLog != "" && cfg.TermLogPath != "" {
		mounts = append(mounts, initMount{Source: cfg.TermLog, Target: cfg.TermLogPath})
	}
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].Target), "/") < strings.Count(filepath.Clean(mounts[j].Target), "/")
	})
	for _, m := range mounts {
		dst, err := resolveInRoot(root, m.Target)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("volume source %s: %w", m.Source, err)
		}
		if st.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("creating mount point %s: %w", m.Target, err)
			}
			err = bindMount(m.Source, dst, m.ReadOnly)
		} else {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("creating mount point %s: %w", m.Target, err)
			}
			err = bindFile(m.Source, dst, m.ReadOnly)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// maxSymlinks bounds the links followed resolving one path (Linux's
// MAXSYMLINKS).
const maxSymlinks = 40

// resolveInRoot resolves target as the container will see it once root is
// its root: symbolic links are followed inside root, an absolute link
// starting again at root and ".." stopping there. A mount point such as
// /var/run/secrets, where /var/run is a link to /run, must be created and
// bound under root/run, not under the host's /run, which the link names
// before the chroot. Components that do not exist yet are kept as they are.
func resolveInRoot(root, target string) (string, error) {
	resolved := "/" // inside root
	rest := strings.Split(filepath.Clean("/"+target), "/")
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, name)
		st, err := os.Lstat(filepath.Join(root, next))
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			resolved = next // a directory, a file, or not there yet
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("too many levels of symbolic links")
		}
		link, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(link) {
			resolved = "/"
		}
		rest = append(strings.Split(link, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}
