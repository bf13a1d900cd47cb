package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run", "var", "data/real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"var/run":   "/run",       // absolute: starts again at root
		"data/link": "real",       // relative to its directory
		"data/up":   "../../..",   // may not climb out of root
		"loop":      "loop",       // never resolves
		"var/lock":  "../run/lck", // relative through .. to a path not there yet
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for target, want := range map[string]string{
		"/var/run/secrets/kubernetes.io/serviceaccount": "/run/secrets/kubernetes.io/serviceaccount",
		"/data/link/x":   "/data/real/x",
		"/data/up/etc":   "/etc",
		"/var/lock/a":    "/run/lck/a",
		"/new/dir":       "/new/dir",
		"relative/../b/": "/b",
	} {
		got, err := resolveInRoot(root, target)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		if got != filepath.Join(root, want) {
			t.Errorf("%s resolved to %s, want %s", target, got, filepath.Join(root, want))
		}
	}
	if _, err := resolveInRoot(root, "/loop/x"); err == nil {
		t.Error("a link to itself resolved")
	}
}
