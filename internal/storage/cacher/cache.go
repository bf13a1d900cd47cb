package cacher

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/storage"
)

// AttrFunc returns an object's labels and selectable fields.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// entry is one cached object with its precomputed selector attributes.
// Objects in the cache are shared and must never be mutated.
type entry struct {
	key string
	obj runtime.Object
	// raw is the stored encoding, for writers that start from the cache and
	// need to tell a no-op update from a real one.
	raw    []byte
	labels labels.Set
	fields fields.Set
	rev    int64
	// out is obj as watchers receive it, with its encodings.
	out *Encoded
}

// event is one change, with the object before it for selector transitions.
type event struct {
	typ  watch.EventType // Added, Modified, Deleted
	cur  *entry          // for Deleted: the last state, resourceVersion = deletion revision
	prev *entry          // nil for Added
	rev  int64
}

// Cache holds one resource. Its lock is the Hub's: every mutation happens
// while the hub applies a watch batch, so caches never disagree on revision.
type Cache struct {
	hub    *Hub
	prefix string
	decode DecodeFunc
	attrs  AttrFunc

	// Guarded by hub.mu.
	items map[string]*entry
	// sorted is items in key order, rebuilt by the first read after a
	// change: resources that rarely change (RBAC, namespaces), read on
	// every request, are then listed without a sort.
	sorted []*entry
	// history is a ring of the latest events; oldest is the revision after
	// which every event is still in it (watches from before are too old).
	history  []event
	head     int // index of the oldest event
	size     int
	oldest   int64
	watchers map[*watcher]struct{}

	// generation counts changes to items. It is bumped after each change,
	// under hub.mu, so a reader that loads it before reading the cache and
	// finds it unchanged later knows its read is still current.
	generation atomic.Uint64
}

func newCache(h *Hub, prefix string, decode DecodeFunc, attrs AttrFunc, historySize int) *Cache {
	return &Cache{
		hub: h, prefix: prefix, decode: decode, attrs: attrs,
		items: map[string]*entry{}, history: make([]event, historySize), watchers: map[*watcher]struct{}{},
	}
}

// replace loads a full list (start-up or relist). Existing watchers are ended:
// they may have missed events, and clients re-watch from their last revision.
func (c *Cache) replace(kvs []storage.KeyValue, rev int64) {
	c.items = make(map[string]*entry, len(kvs))
	c.sorted = nil
	for _, kv := range kvs {
		if e, err := c.newEntry(kv.Key, kv.Value, kv.Revision); err == nil {
			c.items[kv.Key] = e
		} else {
			c.hub.logger.Error("undecodable object in storage", "key", kv.Key, "err", err)
		}
	}
	c.head, c.size, c.oldest = 0, 0, rev
	c.generation.Add(1)
	c.stopWatchers()
}

func (c *Cache) newEntry(key string, value []byte, rev int64) (*entry, error) {
	obj, err := c.decode(value, rev)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	l, f, err := c.attrs(obj)
	if err != nil {
		return nil, fmt.Errorf("attributes of %s: %w", key, err)
	}
	return &entry{key: key, obj: obj, raw: value, labels: l, fields: f, rev: rev, out: newEncoded(obj)}, nil
}

// apply records one storage event. Called with hub.mu held.
func (c *Cache) apply(ev storage.Event) {
	prev := c.items[ev.Key]
	var e event
	switch ev.Type {
	case storage.EventPut:
		cur, err := c.newEntry(ev.Key, ev.Value, ev.Revision)
		if err != nil {
			c.hub.logger.Error("dropping undecodable event", "key", ev.Key, "err", err)
			return
		}
		c.items[ev.Key] = cur
		e = event{typ: watch.Modified, cur: cur, prev: prev, rev: ev.Revision}
		if prev == nil {
			e.typ = watch.Added
		}
	case storage.EventDelete:
		if prev == nil {
			return // never seen: nothing a watcher could have known
		}
		delete(c.items, ev.Key)
		last := prev.obj.DeepCopyObject()
		if err := setResourceVersion(last, ev.Revision); err != nil {
			c.hub.logger.Error("setting resourceVersion", "key", ev.Key, "err", err)
			return
		}
		gone := *prev
		gone.obj, gone.rev, gone.out = last, ev.Revision, newEncoded(last)
		e = event{typ: watch.Deleted, cur: &gone, rev: ev.Revision}
	}
	c.sorted = nil
	c.generation.Add(1)
	c.record(e)
	for w := range c.watchers {
		if !w.send(e) {
			c.dropWatcher(w)
		}
	}
}

// record appends to the history ring, forgetting the oldest event when full.
func (c *Cache) record(e event) {
	n := len(c.history)
	if c.size == n {
		c.oldest = c.history[c.head].rev
		c.head = (c.head + 1) % n
		c.size--
	}
	c.history[(c.head+c.size)%n] = e
	c.size++
}

// progress lets watchers that asked for bookmarks learn the new revision.
func (c *Cache) progress(rev int64) {
	for w := range c.watchers {
		w.progress(rev)
	}
}

func (c *Cache) stopWatchers() {
	for w := range c.watchers {
		c.dropWatcher(w)
	}
}

func (c *Cache) dropWatcher(w *watcher) {
	delete(c.watchers, w)
	w.stop()
}

// Predicate selects objects by key prefix, labels and fields.
type Predicate struct {
	// Prefix restricts to keys under it ("/jobs/default/"); empty means all.
	Prefix string
	Label  labels.Selector
	Field  fields.Selector
}

func (p Predicate) matches(e *entry) bool {
	if e == nil {
		return false
	}
	if p.Prefix != "" && !strings.HasPrefix(e.key, p.Prefix) {
		return false
	}
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(e.labels) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(e.fields) {
		return false
	}
	return true
}

// Generation changes whenever the cache's content does. Something derived
// from the cache (an index, a snapshot) and tagged with the generation
// loaded before it was built is current while Generation returns that value.
func (c *Cache) Generation() uint64 { return c.generation.Load() }

// Get returns the cached object at key (shared: do not mutate), its stored
// bytes, and whether it exists. The cache may lag etcd slightly; use it as a
// hint (with a compare-and-swap) or for resourceVersion=0 reads.
func (c *Cache) Get(key string) (runtime.Object, []byte, bool) {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	e := c.items[key]
	if e == nil {
		return nil, nil, false
	}
	return e.obj, e.raw, true
}

// List returns the matching objects in key order and the revision they
// reflect. With minRevision > 0 it first waits until the cache reflects it
// (a consistent read when minRevision is etcd's current revision).
func (c *Cache) List(ctx context.Context, p Predicate, minRevision int64) ([]runtime.Object, int64, error) {
	if minRevision > 0 {
		if err := c.hub.WaitForRevision(ctx, minRevision); err != nil {
			return nil, 0, err
		}
	}
	c.hub.mu.Lock()
	all := c.sortedLocked()
	rev := c.hub.rev
	c.hub.mu.Unlock()
	// all is never modified, only replaced: filter it without the lock,
	// starting at the prefix (a namespace's keys are contiguous).
	objs := []runtime.Object{}
	for _, e := range all[sort.Search(len(all), func(i int) bool { return all[i].key >= p.Prefix }):] {
		if !strings.HasPrefix(e.key, p.Prefix) {
			break
		}
		if p.matches(e) {
			objs = append(objs, e.obj)
		}
	}
	return objs, rev, nil
}

// sortedLocked returns every entry in key order; the slice is shared and
// must not be modified. Called with hub.mu held.
func (c *Cache) sortedLocked() []*entry {
	if c.sorted == nil {
		c.sorted = make([]*entry, 0, len(c.items))
		for _, e := range c.items {
			c.sorted = append(c.sorted, e)
		}
		sortEntries(c.sorted)
	}
	return c.sorted
}

func setResourceVersion(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(fmt.Sprint(rev))
	return nil
}

func sortEntries(entries []*entry) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
}
