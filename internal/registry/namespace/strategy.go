package namespace

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// namespaceStrategy implements generic.Strategy for Namespaces
// (upstream pkg/registry/core/namespace/strategy.go).
type namespaceStrategy struct{}

// Strategy is the create and update logic for the namespaces resource.
var Strategy = namespaceStrategy{}

var _ generic.Strategy = namespaceStrategy{}

// SetDefaults applies upstream SetDefaults_Namespace and
// SetDefaults_NamespaceStatus: a named namespace carries the
// kubernetes.io/metadata.name label with its name, and an empty phase is
// Active. It is idempotent.
func SetDefaults(ns *corev1.Namespace) {
	setNameLabel(ns)
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// IsTerminating reports whether ns is being deleted: its phase is
// Terminating or it carries a deletionTimestamp. New content may not be
// created in a terminating namespace.
func IsTerminating(ns *corev1.Namespace) bool {
	return ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil
}

// setNameLabel is upstream's namespace Canonicalize: the label always
// matches the name, also for names generated after defaulting.
func setNameLabel(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func (namespaceStrategy) NamespaceScoped() bool { return false }

// PrepareForCreate makes the namespace Active and adds the "kubernetes"
// finalizer the namespace controller removes once the content is gone.
func (namespaceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	setNameLabel(ns)
}

func (namespaceStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return unexpectedType(obj)
	}
	return validateNamespace(ns)
}

func (namespaceStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (namespaceStrategy) AllowCreateOnUpdate() bool { return false }

func (namespaceStrategy) AllowUnconditionalUpdate() bool { return true }

// PrepareForUpdate keeps spec.finalizers and status: they change only
// through /finalize and /status.
func (namespaceStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	oldNS, okOld := old.(*corev1.Namespace)
	if !ok || !okOld {
		return
	}
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	ns.Status = oldNS.Status
	setNameLabel(ns)
}

func (namespaceStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, oldNS, errs := pair(obj, old)
	if errs != nil {
		return errs
	}
	return append(validateNamespace(ns), validateMetaUpdate(ns, oldNS)...)
}

func (namespaceStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// GetAttrs returns the labels and the field-selector fields of a Namespace:
// metadata.name, status.phase and the legacy "name" field, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, nil, fmt.Errorf("not a namespace: %T", obj)
	}
	return labels.Set(ns.Labels), fields.Set{
		"metadata.name": ns.Name,
		"status.phase":  string(ns.Status.Phase),
		// Upstream keeps this bare field for backward compatibility.
		"name": ns.Name,
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func pair(obj, old runtime.Object) (*corev1.Namespace, *corev1.Namespace, field.ErrorList) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, nil, unexpectedType(obj)
	}
	oldNS, ok := old.(*corev1.Namespace)
	if !ok {
		return nil, nil, unexpectedType(old)
	}
	return ns, oldNS, nil
}

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Namespace", obj))}
}
