package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestKubectl_PiJob_CreateGetExplainLabelPatch(t *testing.T) {
	c := startCluster(t)
	if out := c.kubectl("create", "-f", "examples/pi-job.yaml"); !strings.Contains(out, "job.batch/pi created") {
		t.Fatalf("create: %q", out)
	}
	out := c.kubectl("get", "jobs")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if strings.Join(header, " ") != "NAME STATUS COMPLETIONS DURATION AGE" {
		t.Errorf("get jobs columns = %v", header)
	}
	if !regexp.MustCompile(`(?m)^pi\s+\S+\s+0/1\s`).MatchString(out) {
		t.Errorf("get jobs row: %q", out)
	}
	yaml := c.kubectl("get", "job", "pi", "-o", "yaml")
	for _, want := range []string{"apiVersion: batch/v1", "kind: Job", "backoffLimit: 4", "batch.kubernetes.io/job-name: pi", "completionMode: NonIndexed"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("get -o yaml lacks %q", want)
		}
	}
	if out := c.kubectl("explain", "job.spec.backoffLimit"); !strings.Contains(out, "FIELD: backoffLimit <integer>") {
		t.Errorf("explain: %q", out)
	}
	c.kubectl("label", "job", "pi", "team=a")
	c.kubectl("annotate", "job", "pi", "note=hello")
	c.kubectl("patch", "job", "pi", "--type=merge", "-p", `{"spec":{"backoffLimit":3}}`)
	c.kubectl("patch", "job", "pi", "--type=json", "-p", `[{"op":"replace","path":"/spec/backoffLimit","value":2}]`)
	c.kubectl("patch", "job", "pi", "--type=strategic", "-p", `{"metadata":{"labels":{"tier":"batch"}}}`)
	got := c.kubectl("get", "job", "pi", "-o", "jsonpath={.metadata.labels.team},{.metadata.labels.tier},{.metadata.annotations.note},{.spec.backoffLimit}")
	if got != "a,batch,hello,2" {
		t.Errorf("after label/annotate/patch: %q", got)
	}
}

func TestKubectl_APIResources(t *testing.T) {
	c := startCluster(t)
	out := c.kubectl("api-resources")
	for _, want := range []string{`jobs\s+batch/v1\s+true\s+Job`, `pods\s+po\s+v1\s+true\s+Pod`, `namespaces\s+ns\s+v1\s+false\s+Namespace`, `leases\s+coordination.k8s.io/v1\s+true\s+Lease`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("api-resources lacks %s:\n%s", want, out)
		}
	}
}

// kubectl version prints its own release and the server's, and succeeds
// (it used to fail to parse the unset "v0.0.0-master+$Format:%H$").
func TestKubectl_Version(t *testing.T) {
	c := startCluster(t)
	out := c.kubectl("version")
	for _, want := range []string{`(?m)^Client Version: v1\.37\.\d+$`, `(?m)^Server Version: v1\.37\.\d+-skiff$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("kubectl version lacks %s:\n%s", want, out)
		}
	}
}

func TestKubectl_GetWatch_SeesChange(t *testing.T) {
	c := startCluster(t)
	c.kubectl("create", "configmap", "w1", "--from-literal=a=b")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, "kubectl", "--kubeconfig", c.kubeconfig, "get", "configmaps", "-w", "--output-watch-events")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine(t, lines, regexp.MustCompile(`ADDED\s+w1\s`))
	c.kubectl("create", "configmap", "w2", "--from-literal=x=y")
	waitLine(t, lines, regexp.MustCompile(`ADDED\s+w2\s`))
	c.kubectl("delete", "configmap", "w1")
	waitLine(t, lines, regexp.MustCompile(`DELETED\s+w1\s`))
}

func waitLine(t *testing.T, lines <-chan string, re *regexp.Regexp) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended before a line matching %s", re)
			}
			if re.MatchString(l) {
				return
			}
		case <-timeout:
			t.Fatalf("no line matching %s within 30s", re)
		}
	}
}
