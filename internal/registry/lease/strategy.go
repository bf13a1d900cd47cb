package lease

import (
	"context"
	"fmt"
	"slices"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// leaseStrategy implements generic.Strategy for Leases
// (upstream pkg/registry/coordination/lease/strategy.go). Leases keep the
// default garbage-collection policy, as upstream.
type leaseStrategy struct{}

// Strategy is the create and update logic for Leases.
var Strategy = leaseStrategy{}

var _ generic.Strategy = leaseStrategy{}

var validLeaseStrategies = []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}

// SetDefaults applies upstream defaulting. Leases have no defaulted fields;
// it exists so every resource package offers the same hooks.
func SetDefaults(*coordinationv1.Lease) {}

func (leaseStrategy) NamespaceScoped() bool { return true }

// PrepareForCreate drops the coordinated leader election fields, as upstream
// does while the CoordinatedLeaderElection feature gate is off.
func (leaseStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if l, ok := obj.(*coordinationv1.Lease); ok {
		l.Spec.Strategy = nil
		l.Spec.PreferredHolder = nil
	}
}

func (leaseStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return unexpectedType(obj)
	}
	errs := skiffvalidation.ValidateObjectMeta(&l.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&l.Spec, field.NewPath("spec"))...)
}

func (leaseStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// AllowCreateOnUpdate is true: leader election creates Leases with PUT.
func (leaseStrategy) AllowCreateOnUpdate() bool { return true }

// AllowUnconditionalUpdate is false: a Lease update must carry the
// resourceVersion it read, or two holders could both win.
func (leaseStrategy) AllowUnconditionalUpdate() bool { return false }

// PrepareForUpdate keeps the coordinated leader election fields only where
// the stored Lease already uses them.
func (leaseStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	oldLease, _ := old.(*coordinationv1.Lease)
	if oldLease == nil || oldLease.Spec.Strategy == nil {
		l.Spec.Strategy = nil
	}
	if oldLease == nil || oldLease.Spec.PreferredHolder == nil {
		l.Spec.PreferredHolder = nil
	}
}

func (leaseStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return unexpectedType(obj)
	}
	oldLease, ok := old.(*coordinationv1.Lease)
	if !ok {
		return unexpectedType(old)
	}
	errs := skiffvalidation.ValidateObjectMetaUpdate(&l.ObjectMeta, &oldLease.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateSpec(&l.Spec, field.NewPath("spec"))...)
}

func (leaseStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// validateSpec is upstream ValidateLeaseSpec.
func validateSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		errs = append(errs, validateCoordinatedStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// validateCoordinatedStrategy is upstream ValidateCoordinatedLeaseStrategy,
// including its doubled "strategy" path segment.
func validateCoordinatedStrategy(strategy coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !strings.Contains(string(strategy), "/") {
		if !slices.Contains(validLeaseStrategies, strategy) {
			errs = append(errs, field.NotSupported(fldPath.Child("strategy"), strategy, validLeaseStrategies))
		}
		return errs
	}
	for _, msg := range validation.IsQualifiedName(string(strategy)) {
		errs = append(errs, field.Invalid(fldPath.Child("strategy"), strategy, msg))
	}
	return errs
}

// GetAttrs returns the labels and the field-selector fields of a Lease:
// metadata.name and metadata.namespace, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil, nil, fmt.Errorf("not a lease: %T", obj)
	}
	return labels.Set(l.Labels), fields.Set{
		"metadata.name":      l.Name,
		"metadata.namespace": l.Namespace,
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Lease", obj))}
}
