package generic

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CreateStrategy carries what a resource contributes to a create: the
// upstream rest.RESTCreateStrategy, minus the parts Skiff does generically.
//
// Strategies are stateless values; every method must be safe for concurrent
// use. obj is the caller's to mutate: the store hands in a decoded, defaulted
// copy that nobody else holds.
type CreateStrategy interface {
	// NamespaceScoped reports whether objects live in a namespace.
	NamespaceScoped() bool
	// PrepareForCreate clears what a client may not set on create (status,
	// generation) and fills what the server owns (generated selectors...).
	// ObjectMeta's uid, creationTimestamp and name are already set.
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// Validate returns the field errors that make the create a 422.
	// ObjectMeta is validated by the store; Validate covers the rest.
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	// WarningsOnCreate returns Warning headers for a valid object.
	WarningsOnCreate(ctx context.Context, obj runtime.Object) []string
}

// UpdateStrategy carries what a resource contributes to update and patch.
type UpdateStrategy interface {
	NamespaceScoped() bool
	// AllowCreateOnUpdate reports whether PUT on a missing object creates it.
	AllowCreateOnUpdate() bool
	// AllowUnconditionalUpdate reports whether a PUT without
	// metadata.resourceVersion is accepted (it overwrites the latest).
	AllowUnconditionalUpdate() bool
	// PrepareForUpdate copies back what the update may not change
	// (status through the main resource, spec through /status) and bumps
	// metadata.generation when the spec changed.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// ValidateUpdate returns the field errors that make the update a 422.
	// ObjectMeta update rules are checked by the store.
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string
}

// Strategy is the full set a resource provides for its main endpoint.
type Strategy interface {
	CreateStrategy
	UpdateStrategy
}

// GracefulDeleteStrategy is implemented by resources whose deletion waits for
// someone (the node agent) to confirm it: only Pods upstream.
type GracefulDeleteStrategy interface {
	// CheckGracefulDelete sets options.GracePeriodSeconds to the period the
	// object should get and reports whether the delete is graceful
	// (upstream pod strategy: options, else spec.terminationGracePeriodSeconds;
	// 0 when unscheduled or terminal; negative becomes 1).
	CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool
}

// GarbageCollectionPolicy is what a delete without propagation options does
// to the object's dependents.
type GarbageCollectionPolicy string

const (
	// DeleteDependents: dependents are deleted in the background.
	DeleteDependents GarbageCollectionPolicy = "DeleteDependents"
	// OrphanDependents: dependents are orphaned (batch/v1 Jobs).
	OrphanDependents GarbageCollectionPolicy = "OrphanDependents"
	// Unsupported: the GC finalizers are never added (Events, Leases...).
	Unsupported GarbageCollectionPolicy = "Unsupported"
)

// GarbageCollectionDeleteStrategy is implemented by resources whose default
// propagation is not DeleteDependents.
type GarbageCollectionDeleteStrategy interface {
	DefaultGarbageCollectionPolicy(ctx context.Context) GarbageCollectionPolicy
}

// AttrFunc returns the labels and the field-selector fields of an object.
// Every resource supports metadata.name and metadata.namespace; resources add
// their upstream fields (pods: spec.nodeName, status.phase, ...).
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// ResetFieldsStrategy is implemented by strategies that ignore parts of the
// object on update (status for the main resource; spec for /status).
// PrepareForUpdate does the resetting; the field manager uses the list so
// that nobody is recorded as owning what the update threw away (upstream's
// rest.ResetFieldsStrategy). Paths are dotted field names.
type ResetFieldsStrategy interface {
	ResetFields() []string
}

// TableConvertor renders objects as a server-side meta.k8s.io/v1 Table with
// the upstream columns (kubectl get asks for this).
type TableConvertor interface {
	// ConvertToTable converts a single object or a list to a Table. Rows
	// carry the object (or its PartialObjectMetadata per tableOptions) in
	// Row.Object.
	ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions *metav1.TableOptions) (*metav1.Table, error)
}
