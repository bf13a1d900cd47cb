// Package e2e drives a real `skiff serve` subprocess with `skiff kubectl`,
// as a user would.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// skiffBin is the binary built once for the whole package.
var skiffBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	skiffBin = filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", skiffBin, "github.com/skiff-sh/skiff/cmd/skiff")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a running `skiff serve`.
type cluster struct {
	t          *testing.T
	dir        string
	kubeconfig string
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

// startCluster starts `skiff serve` on a free port in a temp data dir and
// waits until kubectl can reach it.
func startCluster(t *testing.T, extraArgs ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"serve", "--data-dir", dir, "--secure-port", "0"}, extraArgs...)
	cmd := exec.Command(skiffBin, args...)
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting skiff serve: %v", err)
	}
	c := &cluster{t: t, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), cmd: cmd, log: log}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(c.kubeconfig); err == nil {
			if _, err := c.kubectlErr("get", "--raw", "/readyz"); err == nil {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("skiff serve not ready after 60s; log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) stop() {
	if c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("skiff serve exited with %v after SIGTERM; log:\n%s", err, c.log.String())
		}
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.t.Errorf("skiff serve did not stop within 30s of SIGTERM")
	}
}

// kubectl runs `skiff kubectl` and fails the test on error.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlErr runs `skiff kubectl` and returns combined output and error.
func (c *cluster) kubectlErr(args ...string) (string, error) {
	return c.kubectlWith(nil, nil, args...)
}

// kubectlWith runs `skiff kubectl` with extra environment variables and
// stdin (nil: none) and returns combined output and error.
func (c *cluster) kubectlWith(env []string, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"kubectl", "--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Dir = repoRoot(c.t)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}
