package auth

import (
	"context"
	"errors"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// laggingLister holds cluster role bindings the way a watch cache does:
// what was written reaches it only when it catches up.
type laggingLister struct {
	mu       sync.Mutex
	bindings []*rbacv1.ClusterRoleBinding
	pending  []*rbacv1.ClusterRoleBinding
}

func (l *laggingLister) catchUp(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bindings, l.pending = append(l.bindings, l.pending...), nil
	return nil
}

func (l *laggingLister) GetRole(_ context.Context, ns, name string) (*rbacv1.Role, error) {
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "roles"}, name)
}
func (l *laggingLister) ListRoleBindings(context.Context, string) ([]*rbacv1.RoleBinding, error) {
	return nil, nil
}
func (l *laggingLister) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	if name != "job-reader" {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}, name)
	}
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}}}, nil
}
func (l *laggingLister) ListClusterRoles(context.Context) ([]*rbacv1.ClusterRole, error) {
	return nil, nil
}
func (l *laggingLister) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*rbacv1.ClusterRoleBinding(nil), l.bindings...), nil
}

func TestRBAC_WithCatchUp_RefusalLooksAgain(t *testing.T) {
	attrs := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "alice"}, Verb: "get",
		APIGroup: "batch", Resource: "jobs", Namespace: "team-a", Name: "pi", ResourceRequest: true}
	grant := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "job-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}

	// Without the hook, a binding the cache has not seen yet does not count.
	plain := &laggingLister{pending: []*rbacv1.ClusterRoleBinding{grant}}
	if d, _, _ := NewRBAC(plain).Authorize(context.Background(), attrs); d != authorizer.DecisionNoOpinion {
		t.Fatalf("without catch-up: decision %v, want no opinion", d)
	}

	lagging := &laggingLister{pending: []*rbacv1.ClusterRoleBinding{grant}}
	d, reason, err := NewRBAC(lagging).WithCatchUp(lagging.catchUp).Authorize(context.Background(), attrs)
	if err != nil || d != authorizer.DecisionAllow {
		t.Fatalf("with catch-up: decision %v (%q, %v), want allow", d, reason, err)
	}

	// A failing catch-up leaves the refusal as the cache had it.
	stale := &laggingLister{pending: []*rbacv1.ClusterRoleBinding{grant}}
	failing := func(context.Context) error { return errors.New("etcd unreachable") }
	if d, _, _ := NewRBAC(stale).WithCatchUp(failing).Authorize(context.Background(), attrs); d != authorizer.DecisionNoOpinion {
		t.Fatalf("failed catch-up: decision %v, want no opinion", d)
	}
}
