package garbagecollector

import (
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
	// barrierEvent marks a point in the event stream; the graph builder
	// closes event.barrier when it reaches it.
	barrierEvent
)

// event is one change for the graph builder.
type event struct {
	kind eventType
	// virtual: a delete made up by a worker that verified an owner absent,
	// not observed from an informer.
	virtual bool
	obj     metav1.Object
	oldObj  metav1.Object
	gvk     schema.GroupVersionKind
	barrier chan struct{}
}

func identityFromEvent(ev *event) identity {
	return identity{
		APIVersion: ev.gvk.GroupVersion().String(),
		Kind:       ev.gvk.Kind,
		Name:       ev.obj.GetName(),
		Namespace:  ev.obj.GetNamespace(),
		UID:        ev.obj.GetUID(),
	}
}

// enqueueVirtualDeleteEvent tells the graph builder that id was verified
// absent by a live lookup.
func (c *Controller) enqueueVirtualDeleteEvent(id identity) {
	gv, _ := schema.ParseGroupVersion(id.APIVersion)
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: id.Name, Namespace: id.Namespace, UID: id.UID}}
	c.graphChanges.Add(&event{kind: deleteEvent, virtual: true, obj: obj, gvk: gv.WithKind(id.Kind)})
}

// processGraphChange applies one event to the graph. Only the graph builder
// goroutine calls it.
func (c *Controller) processGraphChange(ev *event) {
	if ev.kind == barrierEvent {
		close(ev.barrier)
		return
	}
	uid := ev.obj.GetUID()
	existing, found := c.graph.read(uid)
	if found && !ev.virtual && !existing.isObserved() {
		existing = c.observeVirtualNode(existing, identityFromEvent(ev))
	}
	switch {
	case (ev.kind == addEvent || ev.kind == updateEvent) && !found:
		n := newNode(identityFromEvent(ev), ev.obj.GetOwnerReferences())
		if beingDeleted(ev.obj) {
			n.beingDeleted = true
		}
		c.insertNode(n)
		c.processTransitions(ev.oldObj, ev.obj, n)
	case ev.kind == addEvent || ev.kind == updateEvent:
		c.updateNode(existing, ev)
	case ev.kind == deleteEvent && found:
		c.processDelete(existing, ev)
	}
}

// observeVirtualNode turns a virtual node real. If the dependents referenced
// it by other coordinates than the observed ones, those dependents are
// re-checked (their reference may be dangling).
func (c *Controller) observeVirtualNode(existing *node, observed identity) *node {
	if observed != existing.identity {
		_, invalid := partitionDependents(existing.getDependents(), observed)
		for _, dep := range invalid {
			c.attemptToDelete.Add(dep)
		}
		existing = existing.clone()
		existing.identity = observed
		c.graph.write(existing)
	}
	existing.markObserved()
	return existing
}

func (c *Controller) insertNode(n *node) {
	c.graph.write(n)
	c.addDependentToOwners(n, n.getOwners())
}

// addDependentToOwners links n under each owner, creating virtual nodes for
// owners not seen yet; virtual owners are queued so a worker verifies them.
func (c *Controller) addDependentToOwners(n *node, owners []metav1.OwnerReference) {
	suspicious := false
	for _, ref := range owners {
		ownerNode, ok := c.graph.read(ref.UID)
		if !ok {
			ownerNode = newNode(identityFromRef(ref, n.identity.Namespace), nil)
			ownerNode.virtual = true
			c.graph.write(ownerNode)
		}
		ownerNode.addDependent(n)
		if !ok {
			c.attemptToDelete.Add(ownerNode)
			continue
		}
		if refLooksInvalid(ref, n, ownerNode) {
			suspicious = true
		}
	}
	if suspicious {
		// The reference disagrees with what the graph knows about that uid:
		// let a worker verify it by a live lookup.
		c.attemptToDelete.Add(n)
	}
}

func refLooksInvalid(ref metav1.OwnerReference, dep, owner *node) bool {
	ownerNamespaced := owner.identity.Namespace != ""
	switch {
	case ownerNamespaced && owner.identity.Namespace != dep.identity.Namespace:
		return true
	case !refMatchesCoordinates(ref, owner.identity):
		return true
	case !ownerNamespaced && owner.identity.Namespace != dep.identity.Namespace && !owner.isObserved():
		return true
	}
	return false
}

func (c *Controller) removeDependentFromOwners(n *node, owners []metav1.OwnerReference) {
	for _, ref := range owners {
		if ownerNode, ok := c.graph.read(ref.UID); ok {
			ownerNode.removeDependent(n)
		}
	}
}

func (c *Controller) updateNode(existing *node, ev *event) {
	added, removed, changed := referencesDiffs(existing.getOwners(), ev.obj.GetOwnerReferences())
	if len(added) != 0 || len(removed) != 0 || len(changed) != 0 {
		c.addUnblockedOwnersToDeleteQueue(removed, changed)
		existing.setOwners(ev.obj.GetOwnerReferences())
		c.addDependentToOwners(existing, added)
		c.removeDependentFromOwners(existing, removed)
	}
	if beingDeleted(ev.obj) {
		existing.markBeingDeleted()
	}
	c.processTransitions(ev.oldObj, ev.obj, existing)
}

// addUnblockedOwnersToDeleteQueue queues owners waiting for their dependents
// when a dependent stops blocking them (reference removed, or
// blockOwnerDeletion turned off).
func (c *Controller) addUnblockedOwnersToDeleteQueue(removed []metav1.OwnerReference, changed []refChange) {
	queue := func(ref metav1.OwnerReference) {
		if owner, ok := c.graph.read(ref.UID); ok && owner.isDeletingDependents() {
			c.attemptToDelete.Add(owner)
		}
	}
	for _, ref := range removed {
		if isTrue(ref.BlockOwnerDeletion) {
			queue(ref)
		}
	}
	for _, ch := range changed {
		if isTrue(ch.old.BlockOwnerDeletion) && !isTrue(ch.new.BlockOwnerDeletion) {
			queue(ch.new)
		}
	}
}

// processTransitions reacts when an object starts being deleted with the
// orphan or foregroundDeletion finalizer.
func (c *Controller) processTransitions(oldObj, newObj metav1.Object, n *node) {
	if deletionStartsWithFinalizer(oldObj, newObj, metav1.FinalizerOrphanDependents) {
		c.attemptToOrphan.Add(n)
		return
	}
	if deletionStartsWithFinalizer(oldObj, newObj, metav1.FinalizerDeleteDependents) {
		n.markDeletingDependents()
		for _, dep := range n.getDependents() {
			c.attemptToDelete.Add(dep)
		}
		c.attemptToDelete.Add(n)
	}
}

func deletionStartsWithFinalizer(oldObj, newObj metav1.Object, finalizer string) bool {
	if !beingDeleted(newObj) || !hasFinalizer(newObj, finalizer) {
		return false
	}
	if oldObj == nil {
		return true
	}
	return !beingDeleted(oldObj) || !hasFinalizer(oldObj, finalizer)
}

// processDelete handles an informer delete or a virtual delete of existing.
func (c *Controller) processDelete(existing *node, ev *event) {
	if ev.virtual && !c.virtualDeleteRemoves(existing, identityFromEvent(ev)) {
		return
	}
	c.removeNode(existing)
	deps := existing.getDependents()
	if len(deps) > 0 {
		c.absent.add(identityFromEvent(ev))
	}
	for _, dep := range deps {
		c.attemptToDelete.Add(dep)
	}
	for _, ref := range existing.getOwners() {
		if owner, ok := c.graph.read(ref.UID); ok && owner.isDeletingDependents() {
			c.attemptToDelete.Add(owner)
		}
	}
}

// virtualDeleteRemoves decides whether a virtual delete of deleted removes
// existing from the graph. Dependents that named the uid with the verified
// absent coordinates are queued in any case.
func (c *Controller) virtualDeleteRemoves(existing *node, deleted identity) bool {
	if existing.isObserved() && existing.identity == deleted {
		return true
	}
	matching, nonmatching := partitionDependents(existing.getDependents(), deleted)
	if len(matching) > 0 && (len(nonmatching) > 0 || existing.isObserved()) {
		c.absent.add(deleted)
		for _, dep := range matching {
			c.attemptToDelete.Add(dep)
		}
	}
	if existing.isObserved() {
		// A real object with this uid exists under other coordinates.
		return false
	}
	if len(nonmatching) == 0 {
		return true
	}
	// Some dependents name this uid differently: keep a virtual node under
	// one of those identities and verify it.
	if existing.identity == deleted {
		if alt, ok := alternateOwnerIdentity(nonmatching, deleted); ok {
			replacement := existing.clone()
			replacement.identity = alt
			c.graph.write(replacement)
			c.attemptToDelete.AddRateLimited(replacement)
		}
	}
	return false
}

func (c *Controller) removeNode(n *node) {
	c.graph.remove(n.identity.UID)
	c.removeDependentFromOwners(n, n.getOwners())
}

// partitionDependents splits deps into those whose reference to owner's uid
// matches owner's coordinates and those whose reference does not.
func partitionDependents(deps []*node, owner identity) (matching, nonmatching []*node) {
	ownerNamespaced := owner.Namespace != ""
	for _, dep := range deps {
		match, mismatch := false, false
		if ownerNamespaced && owner.Namespace != dep.identity.Namespace {
			mismatch = true
		} else {
			for _, ref := range dep.getOwners() {
				if ref.UID != owner.UID {
					continue
				}
				if refMatchesCoordinates(ref, owner) {
					match = true
				} else {
					mismatch = true
				}
			}
		}
		if match {
			matching = append(matching, dep)
		}
		if mismatch {
			nonmatching = append(nonmatching, dep)
		}
	}
	return matching, nonmatching
}

func alternateOwnerIdentity(deps []*node, verifiedAbsent identity) (identity, bool) {
	for _, dep := range deps {
		for _, ref := range dep.getOwners() {
			if ref.UID != verifiedAbsent.UID {
				continue
			}
			alt := identityFromRef(ref, dep.identity.Namespace)
			if alt != verifiedAbsent {
				return alt, true
			}
		}
	}
	return identity{}, false
}

type refChange struct {
	old, new metav1.OwnerReference
}

// referencesDiffs compares two ownerReference lists by uid.
func referencesDiffs(old, new []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed []refChange) {
	oldByUID := make(map[types.UID]metav1.OwnerReference, len(old))
	for _, ref := range old {
		oldByUID[ref.UID] = ref
	}
	for _, ref := range new {
		o, ok := oldByUID[ref.UID]
		if !ok {
			added = append(added, ref)
			continue
		}
		if !equality.Semantic.DeepEqual(o, ref) {
			changed = append(changed, refChange{old: o, new: ref})
		}
		delete(oldByUID, ref.UID)
	}
	for _, ref := range old {
		if _, ok := oldByUID[ref.UID]; ok {
			removed = append(removed, ref)
		}
	}
	return added, removed, changed
}

func isTrue(b *bool) bool {
	return b != nil && *b
}
