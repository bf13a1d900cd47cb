package integration

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// ReplicationControllers and ReplicaSets are served read-only: listed (as
// upstream's e2e framework does in kube-system before any spec), never
// accepted.
func TestReplicas_ReadOnly(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	rcs, err := ts.Client.CoreV1().ReplicationControllers(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil || len(rcs.Items) != 0 {
		t.Fatalf("list replicationcontrollers in kube-system: %d items, %v", len(rcs.Items), err)
	}
	rss, err := ts.Client.AppsV1().ReplicaSets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil || len(rss.Items) != 0 {
		t.Fatalf("list replicasets in kube-system: %d items, %v", len(rss.Items), err)
	}
	if _, err := ts.Client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list replicasets in all namespaces: %v", err)
	}
	_, err = ts.Client.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}}, metav1.CreateOptions{})
	expectAPIError(t, err, 405, metav1.StatusReasonMethodNotAllowed, "the server does not allow this method on the requested resource")
	_, err = ts.Client.CoreV1().ReplicationControllers("default").Create(ctx, &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc"}}, metav1.CreateOptions{})
	expectAPIError(t, err, 405, metav1.StatusReasonMethodNotAllowed, "the server does not allow this method on the requested resource")

	_, lists, err := ts.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	found := map[string][]string{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			if r.Name == "replicasets" || r.Name == "replicationcontrollers" {
				found[l.GroupVersion+"/"+r.Name] = r.Verbs
			}
		}
	}
	want := []string{"get", "list", "watch"}
	for _, key := range []string{"apps/v1/replicasets", "v1/replicationcontrollers"} {
		if got := found[key]; len(got) != len(want) || got[0] != "get" || got[1] != "list" || got[2] != "watch" {
			t.Errorf("discovery of %s: verbs %v, want %v", key, got, want)
		}
	}
}
