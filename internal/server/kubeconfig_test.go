package server

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// TestWriteKubeconfig_ReadersNeverSeeAPartialFile: `skiff serve`'s users
// (tests outside the repository among them) wait for the kubeconfig to
// appear and read it at once, and a restart rewrites it. Every read while
// it is rewritten must give a whole kubeconfig.
func TestWriteKubeconfig_ReadersNeverSeeAPartialFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	const server = "https://127.0.0.1:6443"
	if err := writeKubeconfig(path, server, ca, "token"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for range 100 {
			if err := writeKubeconfig(path, server, ca, "token"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Fatal("no read happened while the file was rewritten")
			}
			checkKubeconfig(t, path, server)
			return
		default:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		cfg, err := clientcmd.Load(data)
		if err != nil || cfg.Clusters[kubeconfigCluster] == nil || cfg.Clusters[kubeconfigCluster].Server != server {
			t.Fatalf("read %d saw a partial kubeconfig (%d bytes): %v", reads, len(data), err)
		}
		reads++
	}
}

func checkKubeconfig(t *testing.T, path, server string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds the admin token)", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the kubeconfig (no temporary files left)", len(entries))
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != kubeconfigContext || cfg.AuthInfos[kubeconfigUser].Token != "token" {
		t.Errorf("context %q, token %q", cfg.CurrentContext, cfg.AuthInfos[kubeconfigUser].Token)
	}
}
