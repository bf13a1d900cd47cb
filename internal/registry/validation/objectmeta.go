// Package validation holds the ObjectMeta rules every Skiff resource shares.
// It adds to k8s.io/apimachinery/pkg/api/validation the parts upstream keeps
// in k8s.io/kubernetes (the standard-finalizer-name rule).
package validation

import (
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FinalizerKubernetes is the namespace finalizer ("kubernetes").
const FinalizerKubernetes = "kubernetes"

var standardFinalizers = map[string]bool{
	FinalizerKubernetes:              true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

// ValidateObjectMeta validates metadata on create as upstream does for
// built-in resources: apimachinery's generic rules plus the rule that an
// unqualified finalizer must be a standard one.
func ValidateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(meta, namespaced, nameFn, fldPath)
	return append(errs, validateFinalizerNames(meta.Finalizers, fldPath.Child("finalizers"))...)
}

// ValidateObjectMetaUpdate validates metadata on update: immutable fields,
// no new finalizers while deleting, and the create rules on the new value.
func ValidateObjectMetaUpdate(meta, old *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(meta, old, fldPath)
	return append(errs, validateFinalizerNames(meta.Finalizers, fldPath.Child("finalizers"))...)
}

// validateFinalizerNames is upstream's core validateFinalizerName: a name
// without a '/' must be one of the standard finalizers.
func validateFinalizerNames(finalizers []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		if strings.Contains(f, "/") || standardFinalizers[f] {
			continue
		}
		errs = append(errs, field.Invalid(fldPath.Index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}
