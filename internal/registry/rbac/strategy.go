package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// strategy implements generic.Strategy for one RBAC kind (upstream
// pkg/registry/rbac/<kind>/strategy.go): no status, no generation, create
// on update and unconditional update allowed.
type strategy struct {
	namespaced bool
	validate   func(obj runtime.Object) (field.ErrorList, bool)
	// update checks what may not change beyond ObjectMeta (a binding's
	// roleRef); nil for roles.
	update func(obj, old runtime.Object) field.ErrorList
}

// The strategies of the four kinds.
var (
	RoleStrategy = strategy{namespaced: true, validate: func(o runtime.Object) (field.ErrorList, bool) {
		r, ok := o.(*rbacv1.Role)
		if !ok {
			return nil, false
		}
		return validateRole(r), true
	}}
	ClusterRoleStrategy = strategy{validate: func(o runtime.Object) (field.ErrorList, bool) {
		r, ok := o.(*rbacv1.ClusterRole)
		if !ok {
			return nil, false
		}
		return validateClusterRole(r), true
	}}
	RoleBindingStrategy = strategy{namespaced: true, validate: func(o runtime.Object) (field.ErrorList, bool) {
		b, ok := o.(*rbacv1.RoleBinding)
		if !ok {
			return nil, false
		}
		return validateRoleBinding(b), true
	}, update: func(obj, old runtime.Object) field.ErrorList {
		b, ok1 := obj.(*rbacv1.RoleBinding)
		o, ok2 := old.(*rbacv1.RoleBinding)
		if !ok1 || !ok2 {
			return unexpectedType(obj)
		}
		return roleRefUpdate(b.RoleRef, o.RoleRef)
	}}
	ClusterRoleBindingStrategy = strategy{validate: func(o runtime.Object) (field.ErrorList, bool) {
		b, ok := o.(*rbacv1.ClusterRoleBinding)
		if !ok {
			return nil, false
		}
		return validateClusterRoleBinding(b), true
	}, update: func(obj, old runtime.Object) field.ErrorList {
		b, ok1 := obj.(*rbacv1.ClusterRoleBinding)
		o, ok2 := old.(*rbacv1.ClusterRoleBinding)
		if !ok1 || !ok2 {
			return unexpectedType(obj)
		}
		return roleRefUpdate(b.RoleRef, o.RoleRef)
	}}
)

var _ generic.Strategy = strategy{}

func (s strategy) NamespaceScoped() bool { return s.namespaced }

func (strategy) PrepareForCreate(context.Context, runtime.Object) {}

func (s strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	errs, ok := s.validate(obj)
	if !ok {
		return unexpectedType(obj)
	}
	return errs
}

func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (strategy) AllowCreateOnUpdate() bool { return true }

func (strategy) AllowUnconditionalUpdate() bool { return true }

func (strategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (s strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	errs, ok := s.validate(obj)
	if !ok {
		return unexpectedType(obj)
	}
	m, oldM := objectMeta(obj), objectMeta(old)
	if m == nil || oldM == nil {
		return unexpectedType(old)
	}
	errs = append(errs, skiffvalidation.ValidateObjectMetaUpdate(m, oldM, metaPath)...)
	if s.update != nil {
		errs = append(errs, s.update(obj, old)...)
	}
	return errs
}

func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// objectMeta returns the ObjectMeta of an RBAC object, nil for others.
func objectMeta(obj runtime.Object) *metav1.ObjectMeta {
	switch o := obj.(type) {
	case *rbacv1.Role:
		return &o.ObjectMeta
	case *rbacv1.ClusterRole:
		return &o.ObjectMeta
	case *rbacv1.RoleBinding:
		return &o.ObjectMeta
	case *rbacv1.ClusterRoleBinding:
		return &o.ObjectMeta
	}
	return nil
}

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T for an RBAC strategy", obj))}
}

// SetRoleBindingDefaults and SetClusterRoleBindingDefaults are upstream's
// rbac/v1 defaults: roleRef.apiGroup and User/Group subjects' apiGroup
// default to rbac.authorization.k8s.io. Roles have no defaults.
func SetRoleBindingDefaults(b *rbacv1.RoleBinding) {
	setBindingDefaults(&b.RoleRef, b.Subjects)
}

func SetClusterRoleBindingDefaults(b *rbacv1.ClusterRoleBinding) {
	setBindingDefaults(&b.RoleRef, b.Subjects)
}

// SetRoleDefaults and SetClusterRoleDefaults exist so every kind offers the
// same hooks; upstream defaults nothing on roles.
func SetRoleDefaults(*rbacv1.Role)               {}
func SetClusterRoleDefaults(*rbacv1.ClusterRole) {}

func setBindingDefaults(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// GetAttrs returns labels and metadata.name (and metadata.namespace for the
// namespaced kinds), the only selectable fields upstream has for RBAC.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("rbac attrs: %w", err)
	}
	f := fields.Set{"metadata.name": m.GetName()}
	switch obj.(type) {
	case *rbacv1.Role, *rbacv1.RoleBinding:
		f["metadata.namespace"] = m.GetNamespace()
	}
	return labels.Set(m.GetLabels()), f, nil
}

var _ generic.AttrFunc = GetAttrs
