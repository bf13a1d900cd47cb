package service

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

// serviceStrategy implements generic.Strategy for Services
// (upstream pkg/registry/core/service/strategy.go plus the normalisation
// its REST storage does before allocation).
type serviceStrategy struct{}

// Strategy is the create and update logic of the services endpoint.
var Strategy = serviceStrategy{}

var _ generic.Strategy = serviceStrategy{}

func (serviceStrategy) NamespaceScoped() bool { return true }

// PrepareForCreate drops status and fills clusterIPs, ipFamilyPolicy and
// ipFamilies from what the client gave. Cluster IPs and node ports are
// allocated later, by the Allocator's Admit.
func (serviceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	svc.Status = corev1.ServiceStatus{}
	normalizeClusterIPs(svc, nil)
	initIPFamilyFields(svc, nil)
}

func (serviceStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return unexpectedType(obj)
	}
	return append(validateService(svc), validateClusterFamilies(svc)...)
}

func (serviceStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// AllowCreateOnUpdate is true for Services upstream.
func (serviceStrategy) AllowCreateOnUpdate() bool      { return true }
func (serviceStrategy) AllowUnconditionalUpdate() bool { return true }

// PrepareForUpdate keeps status, carries over allocated values the client
// left out and clears what a type change made meaningless.
func (serviceStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return
	}
	svc.Status = oldSvc.Status
	patchAllocatedValues(svc, oldSvc)
	normalizeClusterIPs(svc, oldSvc)
	dropTypeDependentFields(svc, oldSvc)
	initIPFamilyFields(svc, oldSvc)
}

func (serviceStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return unexpectedType(obj)
	}
	oldSvc, ok := old.(*corev1.Service)
	if !ok {
		return unexpectedType(old)
	}
	return append(validateServiceUpdate(svc, oldSvc), validateClusterFamilies(svc)...)
}

func (serviceStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// ResetFields: the main endpoint ignores status.
func (serviceStrategy) ResetFields() []string { return []string{"status"} }

// statusStrategy serves services/status: only status changes.
type statusStrategy struct{ serviceStrategy }

// StatusStrategy is the update logic of services/status.
var StatusStrategy = statusStrategy{}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return
	}
	svc.Spec = oldSvc.Spec
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return unexpectedType(obj)
	}
	oldSvc, ok := old.(*corev1.Service)
	if !ok {
		return unexpectedType(old)
	}
	return validateStatusUpdate(svc, oldSvc)
}

// ResetFields: the status endpoint ignores spec.
func (statusStrategy) ResetFields() []string { return []string{"spec"} }

// GetAttrs returns the labels and the field-selector fields of a Service:
// metadata.name, metadata.namespace, spec.clusterIP and spec.type, as
// upstream's SelectableFields.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil, fmt.Errorf("not a service: %T", obj)
	}
	return labels.Set(svc.Labels), fields.Set{
		"metadata.name":      svc.Name,
		"metadata.namespace": svc.Namespace,
		"spec.clusterIP":     svc.Spec.ClusterIP,
		"spec.type":          string(svc.Spec.Type),
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Service", obj))}
}
