package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// EnforceMountableSecretsAnnotation is the deprecated annotation that limits
// the secrets pods of a service account may mount.
const EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"

// serviceAccountStrategy implements generic.Strategy for ServiceAccounts
// (upstream pkg/registry/core/serviceaccount/strategy.go).
type serviceAccountStrategy struct{}

// Strategy is the create and update logic for ServiceAccounts.
var Strategy = serviceAccountStrategy{}

var _ generic.Strategy = serviceAccountStrategy{}

// SetDefaults applies upstream defaulting. ServiceAccounts have no defaulted
// fields; it exists so every resource package offers the same hooks.
func SetDefaults(*corev1.ServiceAccount) {}

func (serviceAccountStrategy) NamespaceScoped() bool { return true }

func (serviceAccountStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if sa, ok := obj.(*corev1.ServiceAccount); ok {
		cleanSecretReferences(sa)
	}
}

func (serviceAccountStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return unexpectedType(obj)
	}
	return validateServiceAccount(sa)
}

func (serviceAccountStrategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	return warnings(sa, nil)
}

func (serviceAccountStrategy) AllowCreateOnUpdate() bool { return false }

func (serviceAccountStrategy) AllowUnconditionalUpdate() bool { return true }

func (serviceAccountStrategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) {
	if sa, ok := obj.(*corev1.ServiceAccount); ok {
		cleanSecretReferences(sa)
	}
}

func (serviceAccountStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return unexpectedType(obj)
	}
	oldSA, ok := old.(*corev1.ServiceAccount)
	if !ok {
		return unexpectedType(old)
	}
	errs := skiffvalidation.ValidateObjectMetaUpdate(&sa.ObjectMeta, &oldSA.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateServiceAccount(sa)...)
}

func (serviceAccountStrategy) WarningsOnUpdate(_ context.Context, obj, old runtime.Object) []string {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	oldSA, _ := old.(*corev1.ServiceAccount)
	return warnings(sa, oldSA)
}

// validateServiceAccount is upstream ValidateServiceAccount.
func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return skiffvalidation.ValidateObjectMeta(&sa.ObjectMeta, true, apimachineryvalidation.ValidateServiceAccountName, field.NewPath("metadata"))
}

// cleanSecretReferences keeps only the name of each referenced secret.
func cleanSecretReferences(sa *corev1.ServiceAccount) {
	for i, s := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: s.Name}
	}
}

// warnings flags a newly set enforce-mountable-secrets annotation.
func warnings(sa, old *corev1.ServiceAccount) []string {
	if old != nil {
		if _, had := old.Annotations[EnforceMountableSecretsAnnotation]; had {
			return nil
		}
	}
	if _, has := sa.Annotations[EnforceMountableSecretsAnnotation]; has {
		return []string{"metadata.annotations[" + EnforceMountableSecretsAnnotation +
			"]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets"}
	}
	return nil
}

// GetAttrs returns the labels and the field-selector fields of a
// ServiceAccount: metadata.name and metadata.namespace, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, nil, fmt.Errorf("not a serviceaccount: %T", obj)
	}
	return labels.Set(sa.Labels), fields.Set{
		"metadata.name":      sa.Name,
		"metadata.namespace": sa.Namespace,
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.ServiceAccount", obj))}
}
