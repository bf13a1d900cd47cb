package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// ObjectStore is the part of generic.Store bootstrapping uses.
type ObjectStore interface {
	Get(ctx context.Context, namespace, name string, opts metav1.GetOptions) (runtime.Object, error)
	Create(ctx context.Context, namespace string, obj runtime.Object, opts generic.CreateOptions) (runtime.Object, error)
	GuaranteedUpdate(ctx context.Context, namespace, name string, fn generic.UpdateFunc, dryRun bool) (runtime.Object, error)
}

// EnsureBootstrapPolicy creates the bootstrap ClusterRoles and
// ClusterRoleBindings that are missing and, like upstream's reconciler,
// adds missing rules and subjects to existing ones that still carry
// rbac.authorization.k8s.io/autoupdate=true. It never removes anything.
// Run it at every start, before serving requests.
func EnsureBootstrapPolicy(ctx context.Context, clusterRoles, clusterRoleBindings ObjectStore) error {
	for _, r := range BootstrapClusterRoles() {
		if err := ensure(ctx, clusterRoles, &r, reconcileRole); err != nil {
			return fmt.Errorf("bootstrapping clusterrole %s: %w", r.Name, err)
		}
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if err := ensure(ctx, clusterRoleBindings, &b, reconcileBinding); err != nil {
			return fmt.Errorf("bootstrapping clusterrolebinding %s: %w", b.Name, err)
		}
	}
	return nil
}

// reconciler returns the updated object, or nil when nothing changes.
type reconciler func(current, want runtime.Object) runtime.Object

func ensure(ctx context.Context, store ObjectStore, want metav1.Object, reconcile reconciler) error {
	obj := want.(runtime.Object)
	_, err := store.Get(ctx, "", want.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = store.Create(ctx, "", obj.DeepCopyObject(), generic.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	}
	_, err = store.GuaranteedUpdate(ctx, "", want.GetName(), func(_ context.Context, current runtime.Object) (runtime.Object, error) {
		if updated := reconcile(current, obj); updated != nil {
			return updated, nil
		}
		return current, nil
	}, false)
	return err
}

func autoUpdate(m metav1.Object) bool {
	return m.GetAnnotations()[rbacv1.AutoUpdateAnnotationKey] != "false"
}

func reconcileRole(current, want runtime.Object) runtime.Object {
	cur, ok1 := current.(*rbacv1.ClusterRole)
	w, ok2 := want.(*rbacv1.ClusterRole)
	if !ok1 || !ok2 || !autoUpdate(cur) {
		return nil
	}
	out := cur.DeepCopy()
	changed := false
	for _, rule := range w.Rules {
		if !containsRule(out.Rules, rule) {
			out.Rules = append(out.Rules, rule)
			changed = true
		}
	}
	if out.AggregationRule == nil && w.AggregationRule != nil {
		out.AggregationRule, changed = w.AggregationRule.DeepCopy(), true
	}
	for k, v := range w.Labels {
		if out.Labels[k] != v {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k], changed = v, true
		}
	}
	if !changed {
		return nil
	}
	return out
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, have := range rules {
		if apiequality.Semantic.DeepEqual(have, r) {
			return true
		}
	}
	return false
}

func reconcileBinding(current, want runtime.Object) runtime.Object {
	cur, ok1 := current.(*rbacv1.ClusterRoleBinding)
	w, ok2 := want.(*rbacv1.ClusterRoleBinding)
	if !ok1 || !ok2 || !autoUpdate(cur) {
		return nil
	}
	out := cur.DeepCopy()
	changed := false
	for _, s := range w.Subjects {
		found := false
		for _, have := range out.Subjects {
			found = found || have == s
		}
		if !found {
			out.Subjects, changed = append(out.Subjects, s), true
		}
	}
	if !changed {
		return nil
	}
	return out
}
