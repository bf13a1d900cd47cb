package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubectl exec runs commands in a running container through both of
// kubectl's protocols (WebSocket first; SPDY when KUBECTL_REMOTE_COMMAND_WEBSOCKETS
// is false), with stdin, separate streams and the command's exit code as
// kubectl's own; kubectl cp, which is tar over exec, copies both ways.
func TestKubectl_ExecAndCp(t *testing.T) {
	c := startCluster(t)
	c.kubectl("run", "sleeper", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	c.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=120s")

	for proto, env := range map[string][]string{"websocket": nil, "spdy": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}} {
		t.Run(proto, func(t *testing.T) {
			out, err := c.kubectlWith(env, nil, "exec", "sleeper", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
				t.Errorf("exec exit 3: error %v, want kubectl to exit with 3; output:\n%s", err, out)
			}
			if !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
				t.Errorf("exec output = %q, want both streams", out)
			}
			out, err = c.kubectlWith(env, strings.NewReader("piped in\n"), "exec", "-i", "sleeper", "--", "cat")
			if err != nil || out != "piped in\n" {
				t.Errorf("exec -i cat = %q, %v; want the input back", out, err)
			}
		})
	}

	src := filepath.Join(t.TempDir(), "src.txt")
	if err := os.WriteFile(src, []byte("copied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl("cp", src, "sleeper:/tmp/in.txt")
	if out := c.kubectl("exec", "sleeper", "--", "cat", "/tmp/in.txt"); out != "copied\n" {
		t.Errorf("file copied in = %q", out)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	c.kubectl("cp", "sleeper:/tmp/in.txt", back)
	if data, err := os.ReadFile(back); err != nil || string(data) != "copied\n" {
		t.Errorf("file copied back = %q, %v", data, err)
	}
}
