package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// delEventually bounds waits for the controllers.
const delEventually = 30 * time.Second

// delPendingJob is a Job manifest whose pods no node takes (the nodeSelector
// matches no node), with the given parallelism and metadata labels.
func delPendingJob(name string, parallelism int, labels string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  labels: {%s}
spec:
  parallelism: %d
  completions: %d
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {skiff.test/absent: "true"}
      containers:
      - name: pi
        image: perl
        command: ["perl", "-MMath::BigFloat", "-le", "print Math::BigFloat->bpi(2000)"]
`, name, labels, parallelism, parallelism)
}

// delBoundPod is a Pod bound to a node that does not exist: no agent runs
// it, so graceful deletion stays pending.
func delBoundPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  nodeName: fake-node
  containers: [{name: c, image: busybox}]
`, name)
}

// delCreate creates the objects of a manifest.
func (c *cluster) delCreate(manifest string, args ...string) string {
	c.t.Helper()
	path := filepath.Join(c.t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return c.kubectl(append([]string{"create", "-f", path}, args...)...)
}

// delWith is c reporting to the subtest t.
func (c *cluster) delWith(t *testing.T) *cluster {
	cp := *c
	cp.t = t
	return &cp
}

// delPoll runs kubectl until its output satisfies ok.
func (c *cluster) delPoll(what string, ok func(string) bool, args ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(delEventually)
	for {
		out, _ := c.kubectlErr(args...)
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not within %s; last `kubectl %s`: %q", what, delEventually, strings.Join(args, " "), out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// delPodsOf waits until job has n pods and returns their names.
func (c *cluster) delPodsOf(job string, n int) []string {
	c.t.Helper()
	out := c.delPoll(fmt.Sprintf("%d pods of %s", n, job), func(s string) bool { return len(strings.Fields(s)) == n },
		"get", "pods", "-l", "job-name="+job, "-o", "name")
	return strings.Fields(out)
}

func delExpectOutput(t *testing.T, step, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: output %q, want %q", step, got, want)
	}
}

// delExpectNotFound checks kubectl get answers NotFound.
func (c *cluster) delExpectNotFound(kind, name string, extra ...string) {
	c.t.Helper()
	out, err := c.kubectlErr(append([]string{"get", kind, name}, extra...)...)
	if err == nil || !strings.Contains(out, "(NotFound)") {
		c.t.Errorf("get %s %s: err %v output %q, want NotFound", kind, name, err, out)
	}
}

func TestKubectlDelete_Job_CascadeModes(t *testing.T) {
	c := startCluster(t)

	t.Run("background by default waits for the job", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("pi", 1, ""))
		c.delPodsOf("pi", 1)
		delExpectOutput(t, "delete job pi", c.kubectl("delete", "job", "pi"), "job.batch \"pi\" deleted from default namespace\n")
		c.delExpectNotFound("job", "pi")
		c.delPoll("pods of pi deleted", func(s string) bool { return strings.TrimSpace(s) == "" }, "get", "pods", "-l", "job-name=pi", "-o", "name")
	})
	t.Run("cascade orphan keeps the pods without owner", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("orph", 2, ""))
		pods := c.delPodsOf("orph", 2)
		delExpectOutput(t, "delete --cascade=orphan", c.kubectl("delete", "job", "orph", "--cascade=orphan"), "job.batch \"orph\" deleted from default namespace\n")
		c.delExpectNotFound("job", "orph")
		c.delPoll("orphans released", func(s string) bool { return s == "||" }, "get", "pods", "-l", "job-name=orph",
			"-o", "jsonpath={.items[*].metadata.ownerReferences}|{.items[*].metadata.finalizers}|{.items[*].metadata.deletionTimestamp}")
		out := c.kubectl("delete", "pods", "-l", "job-name=orph")
		for _, p := range pods {
			name := strings.TrimPrefix(p, "pod/")
			if !strings.Contains(out, "pod \""+name+"\" deleted from default namespace\n") {
				t.Errorf("delete pods -l: output %q lacks %s", out, name)
			}
		}
	})
	t.Run("cascade foreground returns once pods and job are gone", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("fg", 2, ""))
		c.delPodsOf("fg", 2)
		delExpectOutput(t, "delete --cascade=foreground", c.kubectl("delete", "job", "fg", "--cascade=foreground"), "job.batch \"fg\" deleted from default namespace\n")
		c.delExpectNotFound("job", "fg")
		if out := c.kubectl("get", "pods", "-l", "job-name=fg", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("pods left after a foreground delete returned: %q", out)
		}
	})
	t.Run("server dry run persists nothing", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("dry", 1, ""))
		c.delPodsOf("dry", 1)
		delExpectOutput(t, "delete --dry-run=server", c.kubectl("delete", "job", "dry", "--dry-run=server"), "job.batch \"dry\" deleted from default namespace (server dry run)\n")
		if out := c.kubectl("get", "job", "dry", "-o", "jsonpath={.metadata.deletionTimestamp}|{.metadata.finalizers}"); out != "|" {
			t.Errorf("job after a server dry run: deletionTimestamp|finalizers = %q, want none", out)
		}
		c.delPodsOf("dry", 1)
	})
	t.Run("label selector deletes only the matching jobs", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("sel-x", 1, `app: "sel-x"`))
		c.delCreate(delPendingJob("sel-y", 1, `app: "sel-y"`))
		delExpectOutput(t, "delete jobs -l app=sel-x", c.kubectl("delete", "jobs", "-l", "app=sel-x"), "job.batch \"sel-x\" deleted from default namespace\n")
		c.delExpectNotFound("job", "sel-x")
		c.kubectl("get", "job", "sel-y")
	})
	t.Run("all deletes every job", func(t *testing.T) {
		c := c.delWith(t)
		c.delCreate(delPendingJob("all-a", 1, ""))
		out := c.kubectl("delete", "jobs", "--all")
		for _, name := range []string{"all-a", "dry", "sel-y"} {
			if !strings.Contains(out, "job.batch \""+name+"\" deleted from default namespace\n") {
				t.Errorf("delete jobs --all: output %q lacks %s", out, name)
			}
		}
		if out := c.kubectl("get", "jobs"); out != "No resources found in default namespace.\n" {
			t.Errorf("get jobs after --all: %q", out)
		}
		c.delPoll("all job pods gone", func(s string) bool { return strings.TrimSpace(s) == "" }, "get", "pods", "-o", "name")
	})
}

func TestKubectlDelete_Pod_GracePeriods(t *testing.T) {
	c := startCluster(t)
	for _, name := range []string{"p-grace", "p-now", "p-force"} {
		c.delCreate(delBoundPod(name))
	}

	delExpectOutput(t, "delete --grace-period=20", c.kubectl("delete", "pod", "p-grace", "--grace-period=20", "--wait=false"), "pod \"p-grace\" deleted from default namespace\n")
	if out := c.kubectl("get", "pod", "p-grace", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"); out != "20" {
		t.Errorf("p-grace deletionGracePeriodSeconds %q, want 20 (no node confirms, so it stays)", out)
	}
	delExpectOutput(t, "delete --now", c.kubectl("delete", "pod", "p-now", "--now", "--wait=false"), "pod \"p-now\" deleted from default namespace\n")
	if out := c.kubectl("get", "pod", "p-now", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"); out != "1" {
		t.Errorf("p-now deletionGracePeriodSeconds %q, want 1", out)
	}

	out := c.kubectl("delete", "pod", "p-force", "--force", "--grace-period=0")
	const warn = "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.\n"
	if !strings.Contains(out, warn) || !strings.Contains(out, "pod \"p-force\" force deleted from default namespace\n") {
		t.Errorf("delete --force --grace-period=0: output %q", out)
	}
	c.delExpectNotFound("pod", "p-force")

	// A pending graceful deletion is cut short by a forced one.
	c.kubectl("delete", "pod", "p-grace", "p-now", "--force", "--grace-period=0")
	c.delExpectNotFound("pod", "p-grace")
	c.delExpectNotFound("pod", "p-now")

	// An unscheduled pod goes at once, so the default (waiting) delete returns.
	c.delCreate(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-pending"},"spec":{"nodeSelector":{"skiff.test/absent":"true"},"containers":[{"name":"c","image":"busybox"}]}}`)
	delExpectOutput(t, "delete pending pod", c.kubectl("delete", "pod", "p-pending", "--grace-period=60"), "pod \"p-pending\" deleted from default namespace\n")
	c.delExpectNotFound("pod", "p-pending")
}

func TestKubectlDelete_Namespace_RemovesContent(t *testing.T) {
	c := startCluster(t)
	delExpectOutput(t, "create ns", c.kubectl("create", "namespace", "tmp"), "namespace/tmp created\n")
	c.delPoll("default service account in tmp", func(s string) bool { return strings.TrimSpace(s) == "serviceaccount/default" }, "get", "serviceaccount", "default", "-n", "tmp", "-o", "name")
	c.delCreate(delPendingJob("work", 1, ""), "-n", "tmp")
	c.kubectl("create", "configmap", "cfg", "-n", "tmp", "--from-literal=a=b")
	c.delPoll("pod of work", func(s string) bool { return len(strings.Fields(s)) == 1 }, "get", "pods", "-n", "tmp", "-l", "job-name=work", "-o", "name")

	delExpectOutput(t, "delete ns", c.kubectl("delete", "ns", "tmp"), "namespace \"tmp\" deleted\n")
	c.delExpectNotFound("namespace", "tmp")
	var left []string
	for _, kind := range []string{"jobs", "pods", "configmaps"} {
		if out := c.kubectl("get", kind, "-n", "tmp", "-o", "name"); strings.TrimSpace(out) != "" {
			left = append(left, strings.Fields(out)...)
		}
	}
	if len(left) > 0 {
		t.Fatalf("server bug: the namespace was removed while %v remained in it (any update of a terminating namespace deletes it: internal/registry/generic/update.go shouldDeleteDuringUpdate ignores spec.finalizers)", left)
	}
}
