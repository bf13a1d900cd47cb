package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// A namespace admin may grant what it holds, and not more: binding
// cluster-admin in its own namespace is refused as upstream refuses it.
func TestRBAC_Binding_EscalationRefused(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	body, _ := json.Marshal(auth.CreateTokenRequest{User: "alice"})
	resp, err := ts.HTTP.Post(ts.URL()+auth.TokenAPIPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created auth.CreatedToken
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("issuing a token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	admin := ts.Client.RbacV1().RoleBindings("default")
	binding := func(name, role, subject string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: subject}},
		}
	}
	if _, err := admin.Create(ctx, binding("alice-admin", "admin", "alice"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin binds alice: %v", err)
	}
	cfg := rest.AnonymousClientConfig(ts.Config)
	cfg.BearerToken = created.Token
	alice, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bindings := alice.RbacV1().RoleBindings("default")
	if _, err := bindings.Create(ctx, binding("bob-view", "view", "bob"), metav1.CreateOptions{}); err != nil {
		t.Errorf("alice grants view (which admin covers): %v", err)
	}
	_, err = bindings.Create(ctx, binding("alice-root", "cluster-admin", "alice"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held`) {
		t.Fatalf("alice binds cluster-admin: err = %v, want 403 escalation", err)
	}
}
