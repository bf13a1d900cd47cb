package node

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// nodeStrategy implements generic.Strategy for Nodes
// (upstream pkg/registry/core/node/strategy.go).
type nodeStrategy struct{}

// Strategy is the create and update logic for the nodes resource.
var Strategy = nodeStrategy{}

var _ generic.Strategy = nodeStrategy{}

// SetDefaults applies upstream SetObjectDefaults_Node: allocatable defaults
// to capacity, and capacity and allocatable quantities are rounded up to
// milli-units. It is idempotent.
func SetDefaults(n *corev1.Node) {
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = make(corev1.ResourceList, len(n.Status.Capacity))
		for k, v := range n.Status.Capacity {
			n.Status.Allocatable[k] = v.DeepCopy()
		}
	}
	roundUpToMilli(n.Status.Capacity)
	roundUpToMilli(n.Status.Allocatable)
}

// roundUpToMilli is upstream SetDefaults_ResourceList.
func roundUpToMilli(list corev1.ResourceList) {
	for k, v := range list {
		v.RoundUp(resource.Milli)
		list[k] = v
	}
}

func (nodeStrategy) NamespaceScoped() bool { return false }

// PrepareForCreate drops the removed dynamic kubelet config fields. Status
// may be set on create: the node agent registers with it.
func (nodeStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if n, ok := obj.(*corev1.Node); ok {
		n.Spec.ConfigSource = nil
		n.Status.Config = nil
	}
}

func (nodeStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return unexpectedType(obj)
	}
	return validateNode(n)
}

func (nodeStrategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	return configSourceWarning(obj)
}

func (nodeStrategy) AllowCreateOnUpdate() bool { return false }

func (nodeStrategy) AllowUnconditionalUpdate() bool { return true }

// PrepareForUpdate keeps the stored status (it changes through /status)
// and drops a newly set spec.configSource.
func (nodeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	n, ok := obj.(*corev1.Node)
	oldNode, okOld := old.(*corev1.Node)
	if !ok || !okOld {
		return
	}
	n.Status = oldNode.Status
	if oldNode.Spec.ConfigSource == nil {
		n.Spec.ConfigSource = nil
	}
}

func (nodeStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	n, oldNode, errs := pair(obj, old)
	if errs != nil {
		return errs
	}
	return append(validateNode(n), validateNodeUpdate(n, oldNode)...)
}

func (nodeStrategy) WarningsOnUpdate(_ context.Context, obj, _ runtime.Object) []string {
	return configSourceWarning(obj)
}

func (nodeStrategy) ResetFields() []string { return []string{"status"} }

// nodeStatusStrategy is the strategy of nodes/{name}/status.
type nodeStatusStrategy struct{ nodeStrategy }

// StatusStrategy updates only the status of a Node.
var StatusStrategy = nodeStatusStrategy{Strategy}

var (
	_ generic.UpdateStrategy      = nodeStatusStrategy{}
	_ generic.ResetFieldsStrategy = nodeStrategy{}
	_ generic.ResetFieldsStrategy = nodeStatusStrategy{}
)

// PrepareForUpdate keeps the stored spec and drops a newly set
// status.config.
func (nodeStatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	n, ok := obj.(*corev1.Node)
	oldNode, okOld := old.(*corev1.Node)
	if !ok || !okOld {
		return
	}
	n.Spec = oldNode.Spec
	if oldNode.Status.Config == nil {
		n.Status.Config = nil
	}
}

// ValidateUpdate is upstream ValidateNodeUpdate.
func (nodeStatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	n, oldNode, errs := pair(obj, old)
	if errs != nil {
		return errs
	}
	return validateNodeUpdate(n, oldNode)
}

func (nodeStatusStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (nodeStatusStrategy) ResetFields() []string { return []string{"spec"} }

func configSourceWarning(obj runtime.Object) []string {
	if n, ok := obj.(*corev1.Node); ok && n.Spec.ConfigSource != nil {
		return []string{"spec.configSource: the feature is removed"}
	}
	return nil
}

// GetAttrs returns the labels and the field-selector fields of a Node:
// metadata.name and spec.unschedulable, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil, fmt.Errorf("not a node: %T", obj)
	}
	return labels.Set(n.Labels), fields.Set{
		"metadata.name":      n.Name,
		"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable),
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func pair(obj, old runtime.Object) (*corev1.Node, *corev1.Node, field.ErrorList) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil, unexpectedType(obj)
	}
	oldNode, ok := old.(*corev1.Node)
	if !ok {
		return nil, nil, unexpectedType(old)
	}
	return n, oldNode, nil
}

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Node", obj))}
}
