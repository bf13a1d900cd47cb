package garbagecollector

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type workOutcome int

const (
	outcomeForget workOutcome = iota
	outcomeRequeue
)

// errVirtualDeleteQueued: the item was verified absent and a virtual delete
// event was queued for the graph builder; nothing more to do for the item.
var errVirtualDeleteQueued = errors.New("item verified absent, virtual delete event queued")

// errNamespacedOwnerOfClusterScoped: a cluster-scoped object names a
// namespaced owner. That cannot resolve on retry, so the item is left alone.
var errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped object cannot refer to a namespace-scoped owner")

// attemptToDeleteNode runs one attempt-to-delete work item and says whether to
// requeue it.
func (c *Controller) attemptToDeleteNode(ctx context.Context, n *node) workOutcome {
	if !n.isObserved() {
		current, ok := c.graph.read(n.identity.UID)
		if !ok || current.isObserved() {
			// Replaced or removed meanwhile; the graph has already taken care.
			return outcomeForget
		}
	}
	err := c.attemptToDeleteItem(ctx, n)
	switch {
	case errors.Is(err, errVirtualDeleteQueued), errors.Is(err, errNamespacedOwnerOfClusterScoped):
		return outcomeForget
	case err != nil:
		if ctx.Err() == nil {
			c.log.Debug("attempt to delete failed, will retry", "item", n.identity.String(), "err", err)
		}
		return outcomeRequeue
	case !n.isObserved():
		// Keep polling a virtual node until an informer reports it, so one
		// that was added and removed while a watch was down cannot linger.
		return outcomeRequeue
	}
	return outcomeForget
}

// attemptToDeleteItem decides what to do with item, based on its owners: keep
// it, remove dangling references, or delete it.
func (c *Controller) attemptToDeleteItem(ctx context.Context, item *node) error {
	if item.isBeingDeleted() && !item.isDeletingDependents() {
		return nil
	}
	latest, err := c.getObject(ctx, item.identity)
	switch {
	case apierrors.IsNotFound(err):
		c.enqueueVirtualDeleteEvent(item.identity)
		return errVirtualDeleteQueued
	case err != nil:
		return err
	}
	if latest.GetUID() != item.identity.UID {
		c.enqueueVirtualDeleteEvent(item.identity)
		return errVirtualDeleteQueued
	}
	if item.isDeletingDependents() {
		return c.processDeletingDependentsItem(ctx, item)
	}
	refs := latest.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	solid, dangling, waiting, err := c.classifyReferences(ctx, item, refs)
	if err != nil {
		return err
	}
	switch {
	case len(solid) != 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		c.log.Debug("removing dangling and waiting owner references", "item", item.identity.String(),
			"dangling", len(dangling), "waiting", len(waiting))
		return c.removeOwnerReferences(ctx, item, append(dangling, waiting...))
	case len(waiting) != 0 && item.dependentsLen() != 0:
		for _, dep := range item.getDependents() {
			if dep.isDeletingDependents() {
				// item's dependents wait for item and item would wait for
				// them: stop item from blocking its owners to break the cycle.
				if err := c.unblockOwnerReferences(ctx, item, waiting); err != nil {
					return err
				}
				break
			}
		}
		policy := metav1.DeletePropagationForeground
		c.log.Debug("deleting item in foreground", "item", item.identity.String())
		return c.deleteObject(ctx, item.identity, latest.GetResourceVersion(), refs, policy)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		c.log.Debug("deleting item", "item", item.identity.String(), "propagationPolicy", string(policy))
		return c.deleteObject(ctx, item.identity, latest.GetResourceVersion(), refs, policy)
	}
}

// processDeletingDependentsItem handles an owner being deleted in the
// foreground: once no dependent blocks it, its foregroundDeletion finalizer is
// removed; until then, blocking dependents are (re)queued.
func (c *Controller) processDeletingDependentsItem(ctx context.Context, item *node) error {
	blocking := item.blockingDependents()
	if len(blocking) == 0 {
		c.log.Debug("no blocking dependents remain, removing finalizer", "item", item.identity.String(),
			"finalizer", metav1.FinalizerDeleteDependents)
		return c.removeFinalizer(ctx, item, metav1.FinalizerDeleteDependents)
	}
	for _, dep := range blocking {
		// A dependent already being deleted (and not waiting on its own
		// dependents) needs no attempt: its delete event will requeue item.
		// Skipping it keeps a large foreground cascade from requeueing
		// every remaining dependent on each dependent's deletion.
		if !dep.isBeingDeleted() {
			c.attemptToDelete.Add(dep)
		}
	}
	return nil
}

// classifyReferences sorts item's owner references into solid (the owner
// exists and is not waiting for its dependents), dangling (absent or another
// uid) and waiting (being deleted with foregroundDeletion).
func (c *Controller) classifyReferences(ctx context.Context, item *node, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, ref := range refs {
		isDangling, owner, err := c.isDangling(ctx, ref, item)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case isDangling:
			dangling = append(dangling, ref)
		case beingDeleted(owner) && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, nil
}

// isDangling reports whether ref names an owner that does not exist (404, or
// an object with another uid), returning the owner when it exists. A hit in
// the informer cache with the right uid is trusted (a later delete event
// re-queues the dependents); a miss is confirmed by a live GET.
func (c *Controller) isDangling(ctx context.Context, ref metav1.OwnerReference, item *node) (bool, metav1.Object, error) {
	key := identityFromRef(ref, "")
	if c.absent.has(key) {
		return true, nil, nil
	}
	key.Namespace = item.identity.Namespace
	if c.absent.has(key) {
		return true, nil, nil
	}
	res, err := c.resolve(ref.APIVersion, ref.Kind)
	if err != nil {
		return false, nil, err
	}
	if !res.namespaced {
		key.Namespace = ""
	}
	if item.identity.Namespace == "" && res.namespaced {
		c.log.Debug("cluster-scoped object names a namespaced owner", "item", item.identity.String(), "owner", ref.Name)
		return false, nil, errNamespacedOwnerOfClusterScoped
	}
	if owner, ok := c.cachedObject(res, key); ok && owner.GetUID() == ref.UID {
		return false, owner, nil
	}
	owner, err := c.liveGet(ctx, res, key.Namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		c.absent.add(key)
		return true, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("getting owner %s %s: %w", ref.Kind, ref.Name, err)
	}
	if owner.GetUID() != ref.UID {
		c.absent.add(key)
		return true, nil, nil
	}
	return false, owner, nil
}
