package generic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiff-sh/skiff/internal/storage"
)

// maxDeleteAttempts bounds retries when the object changes between the read
// and the compare-and-swap of a delete.
const maxDeleteAttempts = 16

// Delete deletes an object as upstream's generic store does: preconditions,
// graceful deletion (pods), garbage-collection finalizers (orphan,
// foregroundDeletion), finalizers that keep the object with a
// deletionTimestamp, and dry-run. It returns the response object (the
// object, or a Status for an immediately deleted resource that does not
// return deleted objects) and whether the object is gone from storage.
// options may be modified (defaulted) and must be the caller's own.
func (s *Store) Delete(ctx context.Context, namespace, name string, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	key, err := s.key(namespace, name)
	if err != nil {
		return nil, false, err
	}
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	dryRun := len(options.DryRun) > 0
	src := s.states(key, name)
	for attempt := 0; attempt < maxDeleteAttempts; attempt++ {
		st, err := src.get(ctx)
		if err != nil {
			return nil, false, err
		}
		out, deleted, err := s.tryDelete(ctx, key, name, st, options.DeepCopy(), dryRun)
		if src.retry(err) {
			continue
		}
		return out, deleted, err
	}
	return nil, false, apierrors.NewConflict(s.cfg.Resource, name, errors.New(OptimisticLockErrorMsg))
}

// tryDelete runs one attempt against st; storage.ErrConflict or
// errStaleCache means the attempt must be repeated. Only the plain path (a
// write that moves the object forward) is taken on the watch cache's copy;
// refusals, no-ops and dry runs are decided on etcd's.
func (s *Store) tryDelete(ctx context.Context, key, name string, st state, options *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error) {
	if st.fromCache && dryRun {
		return nil, false, errStaleCache
	}
	current, rev := st.obj, st.rev
	obj := current.DeepCopyObject()
	graceful, pending, err := s.beforeDelete(ctx, obj, options)
	if err != nil || pending {
		if st.fromCache {
			return nil, false, errStaleCache
		}
		if err != nil {
			return nil, false, err
		}
		return s.finalizeDelete(current, false)
	}
	m, err := mustAccessor(obj)
	if err != nil {
		return nil, false, err
	}
	changed, finalizers := s.gcFinalizers(ctx, m, options)
	if changed {
		m.SetFinalizers(finalizers)
	}
	if len(m.GetFinalizers()) > 0 {
		if !graceful {
			markAsDeleting(m, time.Now())
		}
		out, err := s.writeDeleting(ctx, key, name, obj, st, dryRun)
		return out, false, err
	}
	if graceful && options.GracePeriodSeconds != nil && *options.GracePeriodSeconds > 0 {
		out, err := s.writeDeleting(ctx, key, name, obj, st, dryRun)
		return out, false, err
	}
	var written runtime.Object
	if graceful {
		// Grace 0: upstream persists the deleting state (MODIFIED), then
		// removes the object (DELETED), in the same request.
		written, err = s.writeDeleting(ctx, key, name, obj, st, dryRun)
		if err != nil {
			return nil, false, err
		}
		if dryRun {
			return written, true, nil
		}
		rev = revisionOf(written)
	}
	if dryRun {
		return s.finalizeDelete(current, true)
	}
	last, delRev, err := s.cfg.Storage.Delete(ctx, key, rev)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			return nil, false, err
		}
		if written != nil && errors.Is(err, storage.ErrNotFound) {
			// Someone (the node agent confirming) deleted it between our
			// two steps: the deletion this request asked for happened.
			return s.finalizeDelete(written, true)
		}
		return nil, false, s.interpretDeleteError(err, name)
	}
	if !s.cfg.ReturnDeletedObject && rev != 0 {
		// The answer is a Status naming the object: the compare on rev made
		// current the object etcd deleted, so there is nothing to decode.
		return s.finalizeDelete(current, true)
	}
	gone, err := s.decode(last.Value, delRev)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	return s.finalizeDelete(gone, true)
}

// writeDeleting persists obj (the deleting state) over st, unless it is
// unchanged or this is a dry run; the result carries the new revision.
func (s *Store) writeDeleting(ctx context.Context, key, name string, obj runtime.Object, st state, dryRun bool) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(data, st.raw) {
		if st.fromCache {
			return nil, errStaleCache
		}
		return st.obj, nil // repeated DELETE with the same outcome: no write
	}
	if dryRun {
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

// finalizeDelete shapes the response: the object itself, or, for an object
// that is gone and a resource that does not return deleted objects,
// upstream's Success Status (details.kind is the resource, as upstream).
func (s *Store) finalizeDelete(obj runtime.Object, deleted bool) (runtime.Object, bool, error) {
	if !deleted || s.cfg.ReturnDeletedObject {
		return obj, deleted, nil
	}
	m, err := mustAccessor(obj)
	if err != nil {
		return nil, false, err
	}
	return &metav1.Status{
		Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name:  m.GetName(),
			Group: s.cfg.Resource.Group,
			Kind:  s.cfg.Resource.Resource,
			UID:   m.GetUID(),
		},
	}, true, nil
}

// beforeDelete is upstream's rest.BeforeDelete: option validation,
// preconditions, and the grace period of a graceful delete. pending reports
// a graceful deletion already under way that this request does not change.
func (s *Store) beforeDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) (graceful, pending bool, err error) {
	m, err := mustAccessor(obj)
	if err != nil {
		return false, false, err
	}
	if errs := validation.ValidateDeleteOptions(options); len(errs) > 0 {
		return false, false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	if err := s.checkPreconditions(m, options.Preconditions); err != nil {
		return false, false, err
	}
	if g := options.GracePeriodSeconds; g != nil && *g < 0 {
		options.GracePeriodSeconds = ptrTo[int64](1)
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g < 0 {
		m.SetDeletionGracePeriodSeconds(ptrTo[int64](1))
	}
	strategy, ok := s.cfg.Strategy.(GracefulDeleteStrategy)
	if !ok {
		return false, false, nil
	}
	if m.GetDeletionTimestamp() != nil {
		return shortenGracePeriod(m, options)
	}
	if !strategy.CheckGracefulDelete(ctx, obj, options) {
		return false, false, nil
	}
	if options.GracePeriodSeconds == nil {
		return false, false, apierrors.NewInternalError(errors.New("options.GracePeriodSeconds should not be nil"))
	}
	at := metav1.NewTime(time.Now().Add(time.Duration(*options.GracePeriodSeconds) * time.Second))
	m.SetDeletionTimestamp(&at)
	m.SetDeletionGracePeriodSeconds(ptrTo(*options.GracePeriodSeconds))
	if m.GetGeneration() > 0 {
		m.SetGeneration(m.GetGeneration() + 1)
	}
	return true, false, nil
}

// shortenGracePeriod handles a DELETE of an object already being deleted
// gracefully: only a shorter grace period changes anything.
func shortenGracePeriod(m metav1.Object, options *metav1.DeleteOptions) (graceful, pending bool, err error) {
	current := m.GetDeletionGracePeriodSeconds()
	if current == nil || *current == 0 {
		// The update to grace 0 happened but the delete did not: finish it.
		return false, false, nil
	}
	if options.GracePeriodSeconds == nil {
		options.GracePeriodSeconds = ptrTo(*current)
		return false, true, nil
	}
	period := *options.GracePeriodSeconds
	if period >= *current {
		return false, true, nil
	}
	at := m.GetDeletionTimestamp().Add(-time.Duration(*current) * time.Second).Add(time.Duration(period) * time.Second)
	if now := time.Now(); at.Before(now) {
		// The shortened deadline has passed already: now, with the smallest
		// grace that still lets the node confirm (0 stays 0).
		at = now
		if period != 0 {
			period = 1
		}
	}
	ts := metav1.NewTime(at)
	m.SetDeletionTimestamp(&ts)
	m.SetDeletionGracePeriodSeconds(&period)
	options.GracePeriodSeconds = ptrTo(period)
	return true, false, nil
}

// checkPreconditions answers 409 with upstream's messages; the resource in
// the message is built from the Kind (Job.batch), as upstream does.
func (s *Store) checkPreconditions(m metav1.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	gr := schema.GroupResource{Group: s.cfg.Kind.Group, Resource: s.cfg.Kind.Kind}
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(gr, m.GetName(), fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(gr, m.GetName(), fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// gcFinalizers works out the orphan/foregroundDeletion finalizers a delete
// leaves on the object (upstream's deletionFinalizersForGarbageCollection).
// Other finalizers keep their order; GC finalizers go last.
func (s *Store) gcFinalizers(ctx context.Context, m metav1.Object, options *metav1.DeleteOptions) (bool, []string) {
	policy := DeleteDependents
	if gc, ok := s.cfg.Strategy.(GarbageCollectionDeleteStrategy); ok {
		policy = gc.DefaultGarbageCollectionPolicy(ctx)
	}
	if policy == Unsupported {
		return false, m.GetFinalizers()
	}
	orphan, foreground := propagation(m.GetFinalizers(), options, policy)
	var out []string
	for _, f := range m.GetFinalizers() {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	if orphan {
		out = append(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if sets.New(m.GetFinalizers()...).Equal(sets.New(out...)) {
		return false, m.GetFinalizers()
	}
	return true, out
}

// propagation decides orphan and foreground: explicit options first, then
// the finalizers already present, then the resource's default.
func propagation(finalizers []string, options *metav1.DeleteOptions, policy GarbageCollectionPolicy) (orphan, foreground bool) {
	if options.OrphanDependents != nil {
		return *options.OrphanDependents, false
	}
	if p := options.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationOrphan:
			return true, false
		case metav1.DeletePropagationForeground:
			return false, true
		case metav1.DeletePropagationBackground:
			return false, false
		}
	}
	for _, f := range finalizers {
		switch f {
		case metav1.FinalizerOrphanDependents:
			return true, false
		case metav1.FinalizerDeleteDependents:
			return false, true
		}
	}
	return policy == OrphanDependents, false
}

// markAsDeleting sets the deleting state of an object that finalizers keep.
func markAsDeleting(m metav1.Object, now time.Time) {
	if m.GetDeletionTimestamp() == nil && m.GetGeneration() > 0 {
		m.SetGeneration(m.GetGeneration() + 1)
	}
	if ts := m.GetDeletionTimestamp(); ts == nil || ts.After(now) {
		t := metav1.NewTime(now)
		m.SetDeletionTimestamp(&t)
	}
	m.SetDeletionGracePeriodSeconds(ptrTo[int64](0))
}

func ptrTo[T any](v T) *T { return &v }

// deleteCollectionWorkers is how many deletes of a collection run at once.
const deleteCollectionWorkers = 16

// DeleteCollection deletes every object the list options select, each with
// a copy of options, and returns the list as it was before deletion.
// Objects that vanish meanwhile are skipped, as upstream does.
func (s *Store) DeleteCollection(ctx context.Context, namespace string, options *metav1.DeleteOptions, listOpts *metainternalversion.ListOptions) (runtime.Object, error) {
	list, err := s.List(ctx, namespace, listOpts)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	work := make(chan metav1.Object)
	errs := make(chan error, deleteCollectionWorkers)
	var wg sync.WaitGroup
	for range min(deleteCollectionWorkers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				_, _, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), options.DeepCopy())
				if err != nil && !apierrors.IsNotFound(err) {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, item := range items {
		m, err := mustAccessor(item)
		if err != nil {
			continue
		}
		work <- m
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
		return list, nil
	}
}
