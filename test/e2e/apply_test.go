package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ssaJob is a suspended Job (it never runs) for server-side apply.
const ssaJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: ssa
spec:
  suspend: true
  parallelism: %s
  template:
    spec:
      containers:
      - name: c
        image: busybox
        command: ["true"]
      restartPolicy: Never
`

func writeManifest(t *testing.T, parallelism string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(ssaJob, "%s", parallelism, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKubectl_ApplyServerSide_CreateChangeConflictForce(t *testing.T) {
	c := startCluster(t)
	if out := c.kubectl("apply", "--server-side", "-f", writeManifest(t, "1")); !strings.Contains(out, "job.batch/ssa serverside-applied") {
		t.Fatalf("first apply: %q", out)
	}
	if out := c.kubectl("apply", "--server-side", "-f", writeManifest(t, "2")); !strings.Contains(out, "job.batch/ssa serverside-applied") {
		t.Fatalf("second apply: %q", out)
	}
	if got := c.kubectl("get", "job", "ssa", "-o", "jsonpath={.spec.parallelism}"); got != "2" {
		t.Errorf("parallelism after the second apply = %q, want 2", got)
	}
	yaml := c.kubectl("get", "job", "ssa", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"managedFields:", "manager: kubectl\n", "operation: Apply", "f:parallelism: {}"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("get -o yaml --show-managed-fields lacks %q:\n%s", want, yaml)
		}
	}
	if yaml := c.kubectl("get", "job", "ssa", "-o", "yaml"); strings.Contains(yaml, "managedFields") {
		t.Errorf("get -o yaml without --show-managed-fields shows them:\n%s", yaml)
	}

	out, err := c.kubectlErr("apply", "--server-side", "--field-manager=other", "-f", writeManifest(t, "3"))
	if err == nil || !strings.Contains(out, `Apply failed with 1 conflict: conflict with "kubectl": .spec.parallelism`) {
		t.Fatalf("conflicting apply: err %v, output %q", err, out)
	}
	c.kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", writeManifest(t, "3"))
	if got := c.kubectl("get", "job", "ssa", "-o", "jsonpath={.spec.parallelism}"); got != "3" {
		t.Errorf("parallelism after the forced apply = %q, want 3", got)
	}
	// Apply entries sort first; the Job controller's status writes follow.
	owners := c.kubectl("get", "job", "ssa", "--show-managed-fields", "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation}:{.subresource} {end}")
	if !strings.HasPrefix(owners, "kubectl:Apply: other:Apply: ") {
		t.Errorf("managers after the forced apply = %q, want kubectl's and other's Apply first", owners)
	}
}
