package e2e

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/testserver"
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

// kubectl port-forward reaches a server in a pod through both of kubectl's
// protocols (SPDY tunneled through a WebSocket first; plain SPDY when
// KUBECTL_PORT_FORWARD_WEBSOCKETS is false).
func TestKubectl_PortForward(t *testing.T) {
	c := startCluster(t)
	podPort := strconv.Itoa(testserver.FreePort(t))
	c.kubectl("run", "web", "--image=busybox", "--restart=Never", "--", "sh", "-c",
		"mkdir -p /www && echo served > /www/index.html && exec httpd -f -p "+podPort+" -h /www")
	c.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=120s")
	forwarding := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> ` + podPort)

	for proto, env := range map[string][]string{"websocket": nil, "spdy": {"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}} {
		t.Run(proto, func(t *testing.T) {
			cmd := exec.Command(skiffBin, "kubectl", "--kubeconfig", c.kubeconfig, "port-forward", "pod/web", ":"+podPort)
			cmd.Env = append(os.Environ(), env...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := bufio.NewScanner(stdout)
			var local string
			for local == "" && lines.Scan() {
				if m := forwarding.FindStringSubmatch(lines.Text()); m != nil {
					local = m[1]
				}
			}
			if local == "" {
				t.Fatalf("kubectl port-forward printed no forwarding line; stderr:\n%s", stderr.String())
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			var body string
			deadline := time.Now().Add(30 * time.Second)
			for body != "served\n" && time.Now().Before(deadline) {
				resp, err := http.Get("http://127.0.0.1:" + local + "/index.html")
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
			if body != "served\n" {
				t.Errorf("through kubectl port-forward: %q; stderr:\n%s", body, stderr.String())
			}
		})
	}
}

// kubectl run -i attaches to the new pod: its input reaches the workload,
// whose output comes back, and --rm deletes the pod when it ends.
func TestKubectl_RunAttach(t *testing.T) {
	c := startCluster(t)
	out, err := c.kubectlWith(nil, strings.NewReader("echo from $((6*7)) stdin; exit 0\n"),
		"run", "-i", "--rm", "--image=busybox", "--restart=Never", "shell", "--", "sh")
	if err != nil || !strings.Contains(out, "from 42 stdin") || strings.Contains(out, "couldn't attach") {
		t.Errorf("kubectl run -i = %v, output:\n%s", err, out)
	}
	if out, err := c.kubectlErr("get", "pod", "shell"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the --rm pod is still there: %v\n%s", err, out)
	}
}

// kubectl debug adds an ephemeral container through pods/ephemeralcontainers:
// with --target it sees the target's processes; with -i kubectl attaches.
func TestKubectl_Debug(t *testing.T) {
	c := startCluster(t)
	c.kubectl("run", "web", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	c.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=120s")

	c.kubectl("debug", "web", "--image=busybox", "-c", "peek", "--target=web", "--", "ps", "-o", "pid,args")
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := c.kubectlErr("logs", "web", "-c", "peek")
		if strings.Contains(out, "    1 sleep 3600") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("debug container with --target: log %q, want the target's sleep as PID 1", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, err := c.kubectlWith(nil, strings.NewReader("hello\n"), "debug", "-i", "web", "--image=busybox", "-c", "talk", "--", "sh", "-c", "read x; echo got $x")
	if err != nil || !strings.Contains(out, "got hello") {
		t.Errorf("kubectl debug -i = %v, output:\n%s", err, out)
	}
	status := c.kubectl("get", "pod", "web", "-o", `jsonpath={range .status.ephemeralContainerStatuses[*]}{.name}={.state.terminated.exitCode} {end}`)
	if status != "peek=0 talk=0 " {
		t.Errorf("ephemeral container statuses = %q", status)
	}
}
