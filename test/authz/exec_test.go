package authz_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// pods/exec needs "create" whichever protocol asks: SPDY's POST is a create,
// and a WebSocket's GET is authorized as a get and then as a create too
// (upstream's AuthorizePodWebsocketUpgradeCreatePermission, on since 1.35),
// so that a role granting only "get" on pods/exec opens no stream.
func TestAuthz_ExecNeedsCreate(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	createNamespaces(t, ts, "team-a")
	pod := matrixPod("sleeper", "exec")
	pod.Spec.Containers[0].Command = []string{"sleep", "3600"}
	if _, err := ts.Client.CoreV1().Pods("team-a").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 2*time.Minute, func() (bool, error) {
		p, err := ts.Client.CoreV1().Pods("team-a").Get(ctx, "sleeper", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	for user, verbs := range map[string][]string{"getter": {"get"}, "creator": {"create"}, "both": {"get", "create"}} {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: verbs}}}
		if _, err := ts.Client.RbacV1().Roles("team-a").Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
		if _, err := ts.Client.RbacV1().RoleBindings("team-a").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	u := ts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace("team-a").Name("sleeper").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"echo", "in"}, Stdout: true}, scheme.ParameterCodec).URL()
	const createDenied = `pods "sleeper" is forbidden: ` // RBAC gives no reason
	tests := []struct {
		user, proto string
		wantErr     string // how the error ends; "" for success
	}{
		{"getter", "websocket", createDenied},
		{"getter", "spdy", forbiddenMessage("getter", "create")},
		{"creator", "websocket", forbiddenMessage("creator", "get")},
		{"creator", "spdy", ""},
		{"both", "websocket", ""},
		{"both", "spdy", ""},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.proto, func(t *testing.T) {
			cfg := rest.AnonymousClientConfig(ts.Config)
			cfg.BearerToken = issueTokenTTL(t, ts, tc.user, 0).Token
			var exec remotecommand.Executor
			var err error
			if tc.proto == "spdy" {
				exec, err = remotecommand.NewSPDYExecutor(cfg, "POST", u)
			} else {
				exec, err = remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out})
			switch {
			case tc.wantErr == "" && (err != nil || out.String() != "in\n"):
				t.Errorf("exec = %q, %v; want its output", out.String(), err)
			case tc.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.wantErr)):
				t.Errorf("exec error = %v, want one ending in %q", err, tc.wantErr)
			}
		})
	}
}

// forbiddenMessage is upstream's 403 message for a pods/exec request of user.
func forbiddenMessage(user, verb string) string {
	return fmt.Sprintf(`pods "sleeper" is forbidden: User %q cannot %s resource "pods/exec" in API group "" in the namespace "team-a"`, user, verb)
}
