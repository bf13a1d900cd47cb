package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Image is what an image reference resolves to: a root file system and the
// image config (entrypoint, default args, environment).
type Image struct {
	// Ref is the reference as written in the pod.
	Ref string
	// RootDir is the image's root file system on the host; "" means the host's
	// own root. In a mount namespace its top-level directories are bound
	// read-only into a private tmpfs root; without namespaces it is not entered.
	RootDir string
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint []string
	Cmd        []string
	// Env are default "KEY=value" pairs (below the spec's env).
	Env []string
	// Pause: running PausePath runs the runtime's built-in pause, which waits
	// for SIGTERM or SIGINT and exits 0.
	Pause bool
	// FallbackBinDir, when set, is used without namespaces: it is prepended to
	// PATH and /bin/X, /usr/bin/X, /sbin/X, /usr/sbin/X resolve to FallbackBinDir/X
	// when that exists (so "/bin/sh" is busybox's sh, not the host's).
	FallbackBinDir string
}

// PausePath is the entrypoint of pause images.
const PausePath = "/pause"

// ImageResolver is the extension point that maps image references to root
// file systems. Real OCI images can come later as another implementation.
// Resolve must be safe for concurrent use.
type ImageResolver interface {
	Resolve(ctx context.Context, ref string) (Image, error)
}

// BuiltinImagesConfig configures NewBuiltinImages.
type BuiltinImagesConfig struct {
	// Dir holds prepared root file systems. Required.
	Dir string
	// Busybox is the busybox binary; "" looks up "busybox" in PATH, then /bin/busybox.
	Busybox string
}

// BuiltinImages resolves busybox images (any registry and tag) to a root of
// busybox applets, pause images to the built-in pause and anything else to
// the host's root file system.
type BuiltinImages struct {
	dir     string
	busybox string // "" when not installed

	// mu serialises the one-time preparation of the busybox root.
	mu       sync.Mutex
	prepared bool
}

var _ ImageResolver = (*BuiltinImages)(nil)

// NewBuiltinImages returns the built-in resolver. A missing busybox binary is
// not an error here: busybox images then fail to resolve with ErrBusyboxMissing.
func NewBuiltinImages(cfg BuiltinImagesConfig) (*BuiltinImages, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("builtin images: Dir is required")
	}
	b := &BuiltinImages{dir: cfg.Dir, busybox: cfg.Busybox}
	if b.busybox == "" {
		b.busybox = findBusybox()
	}
	return b, nil
}

// BusyboxPath returns the busybox binary in use, "" if none was found.
func (b *BuiltinImages) BusyboxPath() string { return b.busybox }

func findBusybox() string {
	if p, err := exec.LookPath("busybox"); err == nil {
		return p
	}
	if st, err := os.Stat("/bin/busybox"); err == nil && st.Mode().IsRegular() {
		return "/bin/busybox"
	}
	return ""
}

// ImageName returns the last path element of an image reference without tag
// or digest: "registry.k8s.io/e2e-test-images/busybox:1.36.1-1" -> "busybox".
func ImageName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.IndexByte(ref, ':'); i >= 0 {
		ref = ref[:i]
	}
	return strings.ToLower(ref)
}

// Resolve implements ImageResolver.
func (b *BuiltinImages) Resolve(_ context.Context, ref string) (Image, error) {
	switch name := ImageName(ref); {
	case name == "busybox":
		root, err := b.busyboxRoot()
		if err != nil {
			return Image{}, fmt.Errorf("image %q: %w", ref, err)
		}
		return Image{Ref: ref, RootDir: root, Cmd: []string{"sh"},
			FallbackBinDir: filepath.Join(root, "bin")}, nil
	case name == "pause" || strings.HasPrefix(name, "pause-"):
		return Image{Ref: ref, Entrypoint: []string{PausePath}, Pause: true}, nil
	default:
		return Image{Ref: ref}, nil
	}
}

// busyboxRoot prepares (once) Dir/busybox with bin/busybox and a symlink per applet.
func (b *BuiltinImages) busyboxRoot() (string, error) {
	if b.busybox == "" {
		return "", ErrBusyboxMissing
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	root := filepath.Join(b.dir, "busybox")
	if b.prepared {
		return root, nil
	}
	if err := prepareBusybox(root, b.busybox); err != nil {
		return "", fmt.Errorf("preparing busybox root: %w", err)
	}
	b.prepared = true
	return root, nil
}

func prepareBusybox(root, busybox string) error {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("%w: %s --list: %w", ErrBusyboxMissing, busybox, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := copyFile(busybox, filepath.Join(bin, "busybox"), 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	return os.Rename(tmp, root)
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
