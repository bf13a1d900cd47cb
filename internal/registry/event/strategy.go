package event

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
)

// eventStrategy implements generic.Strategy for core/v1 Events
// (upstream pkg/registry/core/event/strategy.go).
type eventStrategy struct{}

// Strategy is the create and update logic for Events.
var Strategy = eventStrategy{}

var (
	_ generic.Strategy                        = eventStrategy{}
	_ generic.GarbageCollectionDeleteStrategy = eventStrategy{}
)

// SetDefaults applies upstream defaulting. Events have no defaulted fields;
// it exists so every resource package offers the same hooks.
func SetDefaults(*corev1.Event) {}

// DefaultGarbageCollectionPolicy is Unsupported: events never get the GC
// finalizers, as upstream.
func (eventStrategy) DefaultGarbageCollectionPolicy(context.Context) generic.GarbageCollectionPolicy {
	return generic.Unsupported
}

func (eventStrategy) NamespaceScoped() bool { return true }

func (eventStrategy) PrepareForCreate(context.Context, runtime.Object) {}

// Validate applies upstream's legacy event rules and, when they pass, the
// generic ObjectMeta rules kube-apiserver runs after every strategy (names
// are path segments, not DNS names, for core/v1 events).
func (eventStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return unexpectedType(obj)
	}
	if errs := legacyValidate(ev); len(errs) > 0 {
		return errs
	}
	return apimachineryvalidation.ValidateObjectMeta(&ev.ObjectMeta, true, pathSegmentName, field.NewPath("metadata"))
}

func (eventStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// AllowCreateOnUpdate is true, as upstream: recorders PUT events.
func (eventStrategy) AllowCreateOnUpdate() bool { return true }

func (eventStrategy) AllowUnconditionalUpdate() bool { return true }

func (eventStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

// ValidateUpdate applies the generic ObjectMeta rules and the legacy event
// rules to the new event; core/v1 event fields are not immutable.
func (eventStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return unexpectedType(obj)
	}
	oldEv, ok := old.(*corev1.Event)
	if !ok {
		return unexpectedType(old)
	}
	metaPath := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMeta(&ev.ObjectMeta, true, pathSegmentName, metaPath)
	errs = append(errs, apimachineryvalidation.ValidateObjectMetaUpdate(&ev.ObjectMeta, &oldEv.ObjectMeta, metaPath)...)
	return append(errs, legacyValidate(ev)...)
}

func (eventStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// GetAttrs returns the labels and the field-selector fields of an Event, as
// upstream ToSelectableFields.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil, fmt.Errorf("not an event: %T", obj)
	}
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	return labels.Set(ev.Labels), fields.Set{
		"metadata.name":                  ev.Name,
		"metadata.namespace":             ev.Namespace,
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Event", obj))}
}
