package rbac

import (
	"context"
	"sync/atomic"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fakeBindings is a ListGetter over a settable list of bindings: the
// generation changes with set, lists are counted.
type fakeBindings struct {
	gen   atomic.Uint64
	lists atomic.Int32
	crbs  []rbacv1.ClusterRoleBinding
	rbs   map[string][]rbacv1.RoleBinding
}

func (f *fakeBindings) Get(context.Context, string, string, metav1.GetOptions) (runtime.Object, error) {
	return nil, nil
}

func (f *fakeBindings) List(_ context.Context, namespace string, _ *metainternalversion.ListOptions) (runtime.Object, error) {
	f.lists.Add(1)
	if f.rbs != nil {
		return &rbacv1.RoleBindingList{Items: append([]rbacv1.RoleBinding(nil), f.rbs[namespace]...)}, nil
	}
	return &rbacv1.ClusterRoleBindingList{Items: append([]rbacv1.ClusterRoleBinding(nil), f.crbs...)}, nil
}

func (f *fakeBindings) CacheGeneration() uint64 { return f.gen.Load() }

func names[T interface{ GetName() string }](items []T) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.GetName())
	}
	return out
}

// TestLister_BindingsKeptUntilTheCacheChanges: the bindings are read from
// the cache once per cache generation (and namespace), and read again as soon
// as the cache changes, so the authorizer never sees a stale list.
func TestLister_BindingsKeptUntilTheCacheChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	crbs := &fakeBindings{crbs: []rbacv1.ClusterRoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}}}
	rbs := &fakeBindings{rbs: map[string][]rbacv1.RoleBinding{
		"one": {{ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: "one"}}},
		"two": {{ObjectMeta: metav1.ObjectMeta{Name: "r2", Namespace: "two"}}},
	}}
	l := NewLister(nil, rbs, nil, crbs)

	for range 3 {
		got, err := l.ListClusterRoleBindings(ctx)
		if err != nil || len(got) != 1 || got[0].Name != "a" {
			t.Fatalf("ListClusterRoleBindings = %v, %v", names(got), err)
		}
	}
	if n := crbs.lists.Load(); n != 1 {
		t.Errorf("cluster role bindings listed %d times for one generation, want 1", n)
	}
	crbs.crbs = append(crbs.crbs, rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}})
	crbs.gen.Add(1)
	if got, _ := l.ListClusterRoleBindings(ctx); len(got) != 2 {
		t.Errorf("after a change: %v, want [a b]", names(got))
	}

	for range 3 {
		for _, ns := range []string{"one", "two"} {
			got, err := l.ListRoleBindings(ctx, ns)
			if err != nil || len(got) != 1 || got[0].Namespace != ns {
				t.Fatalf("ListRoleBindings(%s) = %v, %v", ns, names(got), err)
			}
		}
	}
	if n := rbs.lists.Load(); n != 2 {
		t.Errorf("role bindings listed %d times for two namespaces, want 2", n)
	}
	rbs.rbs["one"] = nil
	rbs.gen.Add(1)
	if got, _ := l.ListRoleBindings(ctx, "one"); len(got) != 0 {
		t.Errorf("after a change: %v, want none", names(got))
	}
	if got, _ := l.ListRoleBindings(ctx, "two"); len(got) != 1 {
		t.Errorf("other namespace after a change: %v, want [r2]", names(got))
	}
	if n := rbs.lists.Load(); n != 4 {
		t.Errorf("role bindings listed %d times, want 4 (both namespaces again after the change)", n)
	}
}
