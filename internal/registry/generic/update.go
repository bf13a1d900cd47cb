package generic

import (
	"bytes"
	"context"
	"errors"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"

	"github.com/skiff-sh/skiff/internal/storage"
)

// UpdateFunc computes the new object from current, a private copy the
// function may modify and return. current is nil when the object does not
// exist and the strategy allows create-on-update. Errors are returned to the
// client as they are (use apierrors).
type UpdateFunc func(ctx context.Context, current runtime.Object) (runtime.Object, error)

// UpdateOptions are the update parameters the store acts on.
type UpdateOptions struct {
	DryRun bool
	// ForceAllowCreate creates a missing object even when the strategy
	// does not allow create-on-update: server-side apply always may
	// (upstream's forceAllowCreate).
	ForceAllowCreate bool
}

// maxUpdateAttempts bounds the compare-and-swap loop; each retry means
// someone else wrote the object between our read and our write.
const maxUpdateAttempts = 16

// Update applies fn to the current object and stores the result with a
// compare-and-swap on its revision, retrying when another writer got there
// first. It implements PUT (fn returns the body) and PATCH (fn applies the
// patch). The bool reports whether the object was created.
func (s *Store) Update(ctx context.Context, namespace, name string, fn UpdateFunc, opts UpdateOptions) (runtime.Object, bool, error) {
	key, err := s.key(namespace, name)
	if err != nil {
		return nil, false, err
	}
	src := s.states(key, name)
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		st, err := src.get(ctx)
		if apierrors.IsNotFound(err) && (opts.ForceAllowCreate || s.cfg.Strategy.AllowCreateOnUpdate()) {
			return s.createOnUpdate(ctx, namespace, fn, opts)
		}
		if err != nil {
			return nil, false, err
		}
		out, err := s.tryUpdate(ctx, key, name, st, fn, opts)
		if src.retry(err) {
			continue // lost a race, or decided on a cached copy: again
		}
		return out, false, err
	}
	return nil, false, apierrors.NewConflict(s.cfg.Resource, name, errors.New(OptimisticLockErrorMsg))
}

func (s *Store) createOnUpdate(ctx context.Context, namespace string, fn UpdateFunc, opts UpdateOptions) (runtime.Object, bool, error) {
	obj, err := fn(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	m, err := mustAccessor(obj)
	if err != nil {
		return nil, false, err
	}
	m.SetResourceVersion("")
	out, err := s.Create(ctx, namespace, obj, CreateOptions{DryRun: opts.DryRun})
	return out, err == nil, err
}

// tryUpdate does one read-modify-write. A storage.ErrConflict or
// errStaleCache result means "retry"; anything else is final. Any refusal
// decided on the watch cache's copy is re-checked on etcd's.
func (s *Store) tryUpdate(ctx context.Context, key, name string, st state, fn UpdateFunc, opts UpdateOptions) (runtime.Object, error) {
	out, err := s.applyUpdate(ctx, key, name, st, fn, opts)
	if err != nil && st.fromCache && !errors.Is(err, storage.ErrConflict) {
		return nil, errStaleCache
	}
	return out, err
}

func (s *Store) applyUpdate(ctx context.Context, key, name string, st state, fn UpdateFunc, opts UpdateOptions) (runtime.Object, error) {
	obj, err := fn(ctx, st.obj.DeepCopyObject())
	if err != nil {
		return nil, err
	}
	m, err := mustAccessor(obj)
	if err != nil {
		return nil, err
	}
	switch m.GetResourceVersion() {
	case "":
		if !s.cfg.Strategy.AllowUnconditionalUpdate() {
			return nil, apierrors.NewInvalid(s.cfg.Kind.GroupKind(), name, field.ErrorList{
				field.Invalid(field.NewPath("metadata", "resourceVersion"), m.GetResourceVersion(), "must be specified for an update")})
		}
		m.SetResourceVersion(strconv.FormatInt(st.rev, 10))
	case strconv.FormatInt(st.rev, 10):
	default:
		return nil, apierrors.NewConflict(s.cfg.Resource, name, errors.New(OptimisticLockErrorMsg))
	}
	if err := s.beforeUpdate(withDryRun(ctx, opts.DryRun), obj, st.obj, m); err != nil {
		return nil, err
	}
	if shouldDeleteDuringUpdate(m, st.obj) && (s.cfg.ShouldDeleteDuringUpdate == nil || s.cfg.ShouldDeleteDuringUpdate(obj)) {
		return s.deleteWithoutFinalizers(ctx, key, name, obj, st.rev, opts.DryRun)
	}
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(data, st.raw) {
		// Nothing changed: no write, no new revision, no watch event.
		if st.fromCache {
			return nil, errStaleCache // confirm on etcd's copy
		}
		return st.obj, nil
	}
	if opts.DryRun {
		return obj, nil
	}
	newRev, err := s.cfg.Storage.Update(ctx, key, data, st.rev)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, s.interpretUpdateError(err, name)
	}
	if err := setResourceVersion(obj, newRev); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

// beforeUpdate is upstream's rest.BeforeUpdate: the fields an update can never
// change are restored from the old object, then the strategy prepares and
// validates.
func (s *Store) beforeUpdate(ctx context.Context, obj, old runtime.Object, m metav1.Object) error {
	oldMeta, err := mustAccessor(old)
	if err != nil {
		return err
	}
	ns := oldMeta.GetNamespace()
	if err := rest.EnsureObjectNamespaceMatchesRequestNamespace(ns, m); err != nil {
		return err
	}
	m.SetGeneration(oldMeta.GetGeneration())
	s.cfg.Strategy.PrepareForUpdate(ctx, obj, old)
	if m.GetUID() == "" {
		m.SetUID(oldMeta.GetUID())
	}
	if ct := oldMeta.GetCreationTimestamp(); !ct.IsZero() {
		m.SetCreationTimestamp(ct)
	}
	if oldMeta.GetDeletionTimestamp() != nil {
		m.SetDeletionTimestamp(oldMeta.GetDeletionTimestamp())
	}
	if oldMeta.GetDeletionGracePeriodSeconds() != nil && m.GetDeletionGracePeriodSeconds() == nil {
		m.SetDeletionGracePeriodSeconds(oldMeta.GetDeletionGracePeriodSeconds())
	}
	metaPath := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(m, s.namespaced, path.ValidatePathSegmentName, metaPath)
	errs = append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, oldMeta, metaPath)...)
	errs = append(errs, s.cfg.Strategy.ValidateUpdate(ctx, obj, old)...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.cfg.Kind.GroupKind(), m.GetName(), errs)
	}
	if s.cfg.Admit != nil {
		if err := s.cfg.Admit(ctx, obj, old); err != nil {
			return err
		}
	}
	for _, w := range s.cfg.Strategy.WarningsOnUpdate(ctx, obj, old) {
		warning.AddWarning(ctx, "", w)
	}
	return nil
}

// shouldDeleteDuringUpdate: an update that removes the last finalizer of an
// object being deleted (with no grace period pending) deletes it.
func shouldDeleteDuringUpdate(m metav1.Object, existing runtime.Object) bool {
	if len(m.GetFinalizers()) > 0 {
		return false
	}
	old, err := mustAccessor(existing)
	if err != nil || old.GetDeletionTimestamp() == nil {
		return false
	}
	grace := old.GetDeletionGracePeriodSeconds()
	return grace == nil || *grace == 0
}

// deleteWithoutFinalizers completes a deletion from the update path. The
// response is the object as submitted, with the previous resourceVersion.
func (s *Store) deleteWithoutFinalizers(ctx context.Context, key, name string, obj runtime.Object, rev int64, dryRun bool) (runtime.Object, error) {
	if dryRun {
		return obj, nil
	}
	if _, _, err := s.cfg.Storage.Delete(ctx, key, rev); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return obj, nil
		}
		if errors.Is(err, storage.ErrConflict) {
			return nil, err
		}
		return nil, s.interpretDeleteError(err, name)
	}
	return obj, nil
}

// GuaranteedUpdate rewrites an object with fn and no strategy or validation:
// for server-internal transitions that the update path forbids (a namespace
// entering Terminating sets its deletionTimestamp). fn returning the object
// unchanged writes nothing.
func (s *Store) GuaranteedUpdate(ctx context.Context, namespace, name string, fn UpdateFunc, dryRun bool) (runtime.Object, error) {
	key, err := s.key(namespace, name)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		current, raw, err := s.read(ctx, key, name)
		if err != nil {
			return nil, err
		}
		obj, err := fn(ctx, current.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		data, err := s.encode(obj)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, raw) {
			return current, nil
		}
		if dryRun {
			return obj, nil
		}
		newRev, err := s.cfg.Storage.Update(ctx, key, data, revisionOf(current))
		if errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, s.interpretUpdateError(err, name)
		}
		if err := setResourceVersion(obj, newRev); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return obj, nil
	}
	return nil, apierrors.NewConflict(s.cfg.Resource, name, errors.New(OptimisticLockErrorMsg))
}
