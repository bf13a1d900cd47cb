package namespace

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// namespaceStatusStrategy is the strategy of namespaces/{name}/status.
type namespaceStatusStrategy struct{ namespaceStrategy }

// StatusStrategy updates only the status of a Namespace.
var StatusStrategy = namespaceStatusStrategy{Strategy}

var _ generic.UpdateStrategy = namespaceStatusStrategy{}

// PrepareForUpdate keeps the stored spec: /status changes only status and
// metadata.
func (namespaceStatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	oldNS, okOld := old.(*corev1.Namespace)
	if !ok || !okOld {
		return
	}
	ns.Spec = oldNS.Spec
	setNameLabel(ns)
}

// ValidateUpdate is upstream ValidateNamespaceStatusUpdate: the phase is
// Active exactly when no deletionTimestamp is set, Terminating otherwise.
func (namespaceStatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, oldNS, errs := pair(obj, old)
	if errs != nil {
		return errs
	}
	errs = validateMetaUpdate(ns, oldNS)
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

func (namespaceStatusStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (namespaceStatusStrategy) ResetFields() []string { return []string{"spec"} }

// namespaceFinalizeStrategy is the strategy of namespaces/{name}/finalize.
type namespaceFinalizeStrategy struct{ namespaceStrategy }

// FinalizeStrategy updates spec.finalizers of a Namespace (metadata follows
// the upstream rules; status is kept).
var FinalizeStrategy = namespaceFinalizeStrategy{Strategy}

var _ generic.UpdateStrategy = namespaceFinalizeStrategy{}

// PrepareForUpdate keeps the stored status.
func (namespaceFinalizeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	oldNS, okOld := old.(*corev1.Namespace)
	if !ok || !okOld {
		return
	}
	ns.Status = oldNS.Status
	setNameLabel(ns)
}

// ValidateUpdate is upstream ValidateNamespaceFinalizeUpdate.
func (namespaceFinalizeStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, oldNS, errs := pair(obj, old)
	if errs != nil {
		return errs
	}
	errs = validateMetaUpdate(ns, oldNS)
	fldPath := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), fldPath.Index(i))...)
	}
	return errs
}

func (namespaceFinalizeStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (namespaceFinalizeStrategy) ResetFields() []string { return []string{"status"} }

// ResetFields lists what the main resource ignores on update.
func (namespaceStrategy) ResetFields() []string { return []string{"status", "spec.finalizers"} }

var (
	_ generic.ResetFieldsStrategy = namespaceStrategy{}
	_ generic.ResetFieldsStrategy = namespaceStatusStrategy{}
	_ generic.ResetFieldsStrategy = namespaceFinalizeStrategy{}
)
