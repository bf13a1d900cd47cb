package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The seed's pi Job, with the command Debian's perl can compute, runs for
// real: it completes and its log is pi to 2,000 digits.
func TestKubectl_PiJob_RunsAndLogs(t *testing.T) {
	c := startCluster(t)
	c.kubectl("create", "-f", "examples/pi-job.yaml")
	c.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=300s")
	out := c.kubectl("logs", "job/pi")
	digits := strings.TrimSpace(out)
	if !strings.HasPrefix(digits, "3.14159265358979323846") || len(digits) < 2001 {
		t.Fatalf("logs job/pi: %d characters, starting %.40q", len(digits), digits)
	}
	if desc := c.kubectl("describe", "job", "pi"); !regexp.MustCompile(`SuccessfulCreate\s+\S+\s+job-controller\s+Created pod: pi-`).MatchString(desc) {
		t.Errorf("describe job pi shows no SuccessfulCreate event:\n%s", desc)
	}
}

// The seed's exact command dies in Debian's perl 5.36; with backoffLimit 0
// the Job ends as Kubernetes would end it: the Pod Failed with exit code 255
// and reason Error, the Job Failed with BackoffLimitExceeded, and the perl
// error readable through kubectl logs.
func TestKubectl_SeedPiJob_FailsAsKubernetesWould(t *testing.T) {
	c := startCluster(t)
	manifest := `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  backoffLimit: 0
  template:
    spec:
      containers:
      - name: pi
        image: perl
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
`
	path := filepath.Join(t.TempDir(), "seed-pi.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl("create", "-f", path)
	c.kubectl("wait", "--for=condition=failed", "job/pi", "--timeout=300s")
	reason := c.kubectl("get", "job", "pi", "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}`)
	if reason != "BackoffLimitExceeded" {
		t.Errorf("Job Failed reason %q, want BackoffLimitExceeded", reason)
	}
	pod := c.kubectl("get", "pods", "-l", "job-name=pi", "-o", `jsonpath={.items[0].status.phase} {.items[0].status.containerStatuses[0].state.terminated.exitCode} {.items[0].status.containerStatuses[0].state.terminated.reason}`)
	if pod != "Failed 255 Error" {
		t.Errorf("pod phase/exit/reason %q, want \"Failed 255 Error\"", pod)
	}
	if logs := c.kubectl("logs", "job/pi"); !strings.Contains(logs, "Can't use an undefined value as an ARRAY reference") {
		t.Errorf("logs job/pi lacks the perl error:\n%s", logs)
	}
}
