package authz_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// Adding ephemeral containers bypasses what admission checks pods for, so
// upstream's admin and edit roles leave pods/ephemeralcontainers out: a
// tenant's admin may not, a cluster admin may.
func TestAuthz_EphemeralContainers_NotInTenantAdmin(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	createNamespaces(t, ts, "team-a")
	bindClusterRole(t, ts, "alice", "admin", "team-a")
	if _, err := ts.Client.CoreV1().Pods("team-a").Create(ctx, matrixPod("target", "ephemeral"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","targetContainerName":"c"}]}}`)

	cfg := rest.AnonymousClientConfig(ts.Config)
	cfg.BearerToken = issueTokenTTL(t, ts, "alice", 0).Token
	alice := kubernetes.NewForConfigOrDie(cfg)
	_, err := alice.CoreV1().Pods("team-a").Patch(ctx, "target", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "ephemeralcontainers")
	const want = `pods "target" is forbidden: User "alice" cannot patch resource "pods/ephemeralcontainers" in API group "" in the namespace "team-a"`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("tenant admin: %v\nwant %s", err, want)
	}
	if _, err := alice.CoreV1().Pods("team-a").Patch(ctx, "target", types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("tenant admin may patch the pod itself: %v", err)
	}

	got, err := ts.Client.CoreV1().Pods("team-a").Patch(ctx, "target", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	if n := len(got.Spec.EphemeralContainers); n != 1 || got.Spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("ephemeral containers = %+v, want one, defaulted", got.Spec.EphemeralContainers)
	}
}
