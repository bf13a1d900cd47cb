package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Job's pod talks to the API as its service account, as a pod does on
// Kubernetes: the service account admission mounts a token volume, the node
// agent fills it through the TokenRequest API and sets KUBERNETES_SERVICE_*,
// and kubectl inside the pod finds it all through its in-cluster config.
// RBAC decides what the service account may do.
func TestKubectl_JobPodUsesItsServiceAccount(t *testing.T) {
	c := startCluster(t)
	manifest := fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: whoami
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: whoami
        image: host
        command: [%q, "kubectl", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.extra.authentication\\.kubernetes\\.io/pod-name}"]
      - name: list
        image: host
        command: [%q, "kubectl", "get", "jobs", "-o", "name"]
`, skiffBin, skiffBin)
	path := filepath.Join(t.TempDir(), "whoami.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl("create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default")
	c.kubectl("create", "-f", path)
	c.kubectl("wait", "--for=condition=complete", "job/whoami", "--timeout=120s")
	pod := c.kubectl("get", "pods", "-l", "job-name=whoami", "-o", "jsonpath={.items[0].metadata.name}")
	if got, want := strings.TrimSpace(c.kubectl("logs", "job/whoami", "-c", "whoami")), `system:serviceaccount:default:default ["`+pod+`"]`; got != want {
		t.Errorf("whoami inside the pod: %q, want %q", got, want)
	}
	if got := c.kubectl("logs", "job/whoami", "-c", "list"); strings.TrimSpace(got) != "job.batch/whoami" {
		t.Errorf("kubectl get jobs inside the pod: %q", got)
	}
	// kubectl create token goes through the same TokenRequest API.
	if tok := strings.TrimSpace(c.kubectl("create", "token", "default", "--duration=20m")); strings.Count(tok, ".") != 2 || !strings.HasPrefix(tok, "eyJ") {
		t.Errorf("kubectl create token printed %q, want a JWT", tok)
	}
	if out, err := c.kubectlErr("create", "token", "default", "--duration=5m"); err == nil ||
		!strings.Contains(out, "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes") {
		t.Errorf("a 5 minute token: %v\n%s", err, out)
	}
	spec := c.kubectl("get", "pod", pod, "-o", `jsonpath={.spec.serviceAccountName} {.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds} {.spec.containers[0].volumeMounts[0].mountPath}`)
	if want := "default 3607 /var/run/secrets/kubernetes.io/serviceaccount"; spec != want {
		t.Errorf("pod spec: %q, want %q", spec, want)
	}
}
