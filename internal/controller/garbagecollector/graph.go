package garbagecollector

import (
	"container/list"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// identity names one object by the coordinates an ownerReference uses, plus the
// namespace. It is comparable, so it serves as a map and cache key.
type identity struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	UID        types.UID
}

func (id identity) groupKind() schema.GroupKind {
	gv, err := schema.ParseGroupVersion(id.APIVersion)
	if err != nil {
		return schema.GroupKind{Kind: id.Kind}
	}
	return schema.GroupKind{Group: gv.Group, Kind: id.Kind}
}

// identityFromRef is the identity an ownerReference names, in the namespace of
// the dependent that holds the reference.
func identityFromRef(ref metav1.OwnerReference, namespace string) identity {
	return identity{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, Namespace: namespace, UID: ref.UID}
}

// refMatchesCoordinates reports whether ref names id by uid, name, kind and
// group; versions may differ.
func refMatchesCoordinates(ref metav1.OwnerReference, id identity) bool {
	if ref.UID != id.UID || ref.Name != id.Name || ref.Kind != id.Kind {
		return false
	}
	refGV, err1 := schema.ParseGroupVersion(ref.APIVersion)
	idGV, err2 := schema.ParseGroupVersion(id.APIVersion)
	if err1 != nil || err2 != nil {
		return ref.APIVersion == id.APIVersion
	}
	return refGV.Group == idGV.Group
}

// node is one object in the owner → dependents graph. identity never changes
// after the node is published; the graph builder replaces the node (clone)
// instead. Everything else is guarded by mu, because the graph builder writes
// it while workers read it.
type node struct {
	identity identity

	mu sync.RWMutex
	// dependents are the nodes whose ownerReferences name this node.
	dependents map[*node]struct{}
	// owners are the object's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: the object is being deleted with foregroundDeletion.
	deletingDependents bool
	// virtual: the node was made up from an ownerReference and has not yet
	// been observed through an informer.
	virtual bool
}

func newNode(id identity, owners []metav1.OwnerReference) *node {
	return &node{identity: id, owners: owners, dependents: map[*node]struct{}{}}
}

// clone copies n with the same dependents and owners; only the graph builder
// calls it.
func (n *node) clone() *node {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c := &node{
		identity:           n.identity,
		dependents:         make(map[*node]struct{}, len(n.dependents)),
		owners:             append([]metav1.OwnerReference(nil), n.owners...),
		beingDeleted:       n.beingDeleted,
		deletingDependents: n.deletingDependents,
		virtual:            n.virtual,
	}
	for d := range n.dependents {
		c.dependents[d] = struct{}{}
	}
	return c
}

func (n *node) addDependent(d *node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dependents[d] = struct{}{}
}

func (n *node) removeDependent(d *node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.dependents, d)
}

func (n *node) dependentsLen() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.dependents)
}

func (n *node) getDependents() []*node {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*node, 0, len(n.dependents))
	for d := range n.dependents {
		out = append(out, d)
	}
	return out
}

func (n *node) getOwners() []metav1.OwnerReference {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.owners
}

func (n *node) setOwners(owners []metav1.OwnerReference) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.owners = owners
}

func (n *node) markBeingDeleted() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.beingDeleted = true
}

func (n *node) isBeingDeleted() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.beingDeleted
}

func (n *node) markDeletingDependents() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.beingDeleted = true
	n.deletingDependents = true
}

func (n *node) isDeletingDependents() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.deletingDependents
}

func (n *node) markObserved() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.virtual = false
}

func (n *node) isObserved() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return !n.virtual
}

// blockingDependents are the dependents whose reference to n has
// blockOwnerDeletion: true.
func (n *node) blockingDependents() []*node {
	var out []*node
	for _, dep := range n.getDependents() {
		for _, ref := range dep.getOwners() {
			if ref.UID == n.identity.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				out = append(out, dep)
				break
			}
		}
	}
	return out
}

// uidToNode is the graph's index. The graph builder writes it; workers read it.
type uidToNode struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func (m *uidToNode) read(uid types.UID) (*node, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, ok := m.nodes[uid]
	return n, ok
}

func (m *uidToNode) write(n *node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[n.identity.UID] = n
}

func (m *uidToNode) remove(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, uid)
}

func (m *uidToNode) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.nodes)
}

// absentCache remembers owners verified absent (404 or another uid), so that
// the many dependents of one deleted owner cost one lookup. It is a small LRU,
// safe for concurrent use.
type absentCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[identity]*list.Element
}

func newAbsentCache(max int) *absentCache {
	return &absentCache{max: max, order: list.New(), items: map[identity]*list.Element{}}
}

func (c *absentCache) add(id identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[id] = c.order.PushFront(id)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(identity))
	}
}

func (c *absentCache) has(id identity) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}
