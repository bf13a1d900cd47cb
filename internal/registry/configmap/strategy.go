package configmap

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// configMapStrategy implements generic.Strategy for ConfigMaps
// (upstream pkg/registry/core/configmap/strategy.go).
type configMapStrategy struct{}

// Strategy is the create and update logic for ConfigMaps.
var Strategy = configMapStrategy{}

var _ generic.Strategy = configMapStrategy{}

// SetDefaults applies upstream defaulting. ConfigMaps have no defaulted
// fields; it exists so every resource package offers the same hooks.
func SetDefaults(*corev1.ConfigMap) {}

func (configMapStrategy) NamespaceScoped() bool { return true }

func (configMapStrategy) PrepareForCreate(context.Context, runtime.Object) {}

func (configMapStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return unexpectedType(obj)
	}
	return validateConfigMap(cm)
}

func (configMapStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (configMapStrategy) AllowCreateOnUpdate() bool { return false }

func (configMapStrategy) AllowUnconditionalUpdate() bool { return true }

func (configMapStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (configMapStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return unexpectedType(obj)
	}
	oldCM, ok := old.(*corev1.ConfigMap)
	if !ok {
		return unexpectedType(old)
	}
	return validateConfigMapUpdate(cm, oldCM)
}

func (configMapStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// GetAttrs returns the labels and the field-selector fields of a ConfigMap:
// metadata.name and metadata.namespace, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, nil, fmt.Errorf("not a configmap: %T", obj)
	}
	return labels.Set(cm.Labels), fields.Set{
		"metadata.name":      cm.Name,
		"metadata.namespace": cm.Namespace,
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.ConfigMap", obj))}
}
