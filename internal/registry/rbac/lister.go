package rbac

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListGetter is the part of generic.Store the lister reads through.
type ListGetter interface {
	Get(ctx context.Context, namespace, name string, opts metav1.GetOptions) (runtime.Object, error)
	List(ctx context.Context, namespace string, opts *metainternalversion.ListOptions) (runtime.Object, error)
	// CacheGeneration changes whenever the cache List reads from does.
	CacheGeneration() uint64
}

// Lister serves the RBAC authorizer (auth.RBACLister) from the stores'
// watch caches (resourceVersion "0" reads: no etcd round trip per request).
// Returned objects and slices are shared and must not be modified.
//
// Every request is authorized, and most read the bindings, which rarely
// change: the lists of bindings are kept until their cache changes, instead
// of being copied out of it for each request.
type Lister struct {
	roles, roleBindings, clusterRoles, clusterRoleBindings ListGetter

	clusterBindings atomic.Pointer[snapshot[*rbacv1.ClusterRoleBinding]]
	mu              sync.Mutex
	bindingsGen     uint64
	bindings        map[string][]*rbacv1.RoleBinding // by namespace, for bindingsGen
}

// snapshot is a list read when its cache's generation was gen.
type snapshot[T any] struct {
	gen   uint64
	items []T
}

// NewLister reads the four kinds from their stores.
func NewLister(roles, roleBindings, clusterRoles, clusterRoleBindings ListGetter) *Lister {
	return &Lister{roles: roles, roleBindings: roleBindings, clusterRoles: clusterRoles, clusterRoleBindings: clusterRoleBindings}
}

var fromCache = metav1.GetOptions{ResourceVersion: "0"}

func cachedList() *metainternalversion.ListOptions {
	return &metainternalversion.ListOptions{ResourceVersion: "0"}
}

func (l *Lister) GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error) {
	obj, err := l.roles.Get(ctx, namespace, name, fromCache)
	if err != nil {
		return nil, err
	}
	return typed[*rbacv1.Role](obj)
}

func (l *Lister) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	obj, err := l.clusterRoles.Get(ctx, "", name, fromCache)
	if err != nil {
		return nil, err
	}
	return typed[*rbacv1.ClusterRole](obj)
}

func (l *Lister) ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	// The generation is loaded before the list is read: a change in
	// between makes the next call read again (see cacher.Cache.Generation).
	gen := l.roleBindings.CacheGeneration()
	l.mu.Lock()
	if l.bindingsGen == gen {
		if items, ok := l.bindings[namespace]; ok {
			l.mu.Unlock()
			return items, nil
		}
	}
	l.mu.Unlock()
	items, err := l.listRoleBindings(ctx, namespace)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.bindingsGen != gen || l.bindings == nil {
		l.bindingsGen, l.bindings = gen, map[string][]*rbacv1.RoleBinding{}
	}
	l.bindings[namespace] = items
	l.mu.Unlock()
	return items, nil
}

func (l *Lister) listRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	obj, err := l.roleBindings.List(ctx, namespace, cachedList())
	if err != nil {
		return nil, err
	}
	list, err := typed[*rbacv1.RoleBindingList](obj)
	if err != nil {
		return nil, err
	}
	out := make([]*rbacv1.RoleBinding, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

func (l *Lister) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	gen := l.clusterRoleBindings.CacheGeneration()
	if snap := l.clusterBindings.Load(); snap != nil && snap.gen == gen {
		return snap.items, nil
	}
	items, err := l.listClusterRoleBindings(ctx)
	if err != nil {
		return nil, err
	}
	l.clusterBindings.Store(&snapshot[*rbacv1.ClusterRoleBinding]{gen: gen, items: items})
	return items, nil
}

func (l *Lister) listClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	obj, err := l.clusterRoleBindings.List(ctx, "", cachedList())
	if err != nil {
		return nil, err
	}
	list, err := typed[*rbacv1.ClusterRoleBindingList](obj)
	if err != nil {
		return nil, err
	}
	out := make([]*rbacv1.ClusterRoleBinding, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

func (l *Lister) ListClusterRoles(ctx context.Context) ([]*rbacv1.ClusterRole, error) {
	obj, err := l.clusterRoles.List(ctx, "", cachedList())
	if err != nil {
		return nil, err
	}
	list, err := typed[*rbacv1.ClusterRoleList](obj)
	if err != nil {
		return nil, err
	}
	out := make([]*rbacv1.ClusterRole, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

func typed[T runtime.Object](obj runtime.Object) (T, error) {
	t, ok := obj.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("rbac lister: unexpected object type %T", obj)
	}
	return t, nil
}
