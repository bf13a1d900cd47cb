// Package storage is Skiff's narrow key-value interface over etcd v3. It knows
// keys, bytes and revisions; it knows nothing of resources, codecs or HTTP.
//
// A revision is etcd's: every write gets the next cluster-wide revision, and an
// object's resourceVersion is the mod revision of its key. Updates and deletes
// are compare-and-swap on that revision.
//
//	store, _ := storage.NewEtcd(client, "/registry")
//	rev, err := store.Create(ctx, "/jobs/default/pi", data)
//	kv, err := store.Get(ctx, "/jobs/default/pi")
//	_, err = store.Update(ctx, kv.Key, newData, kv.Revision) // ErrConflict if it moved
package storage

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the registry translates
// them into API Status errors once, at its edge.
var (
	ErrNotFound  = errors.New("key not found")
	ErrExists    = errors.New("key already exists")
	ErrConflict  = errors.New("revision does not match")
	ErrCompacted = errors.New("requested revision has been compacted")
	// ErrUnavailable means etcd could not be reached in time.
	ErrUnavailable = errors.New("storage unavailable")
)

// ConflictError is returned (matching ErrConflict) when an update or delete
// found another revision than expected. Current is what is stored now, so the
// caller can retry without another read; Current.Value is nil when the key
// was deleted meanwhile (and the error then also matches ErrNotFound).
type ConflictError struct {
	Key     string
	Current KeyValue
}

func (e *ConflictError) Error() string {
	if e.Current.Value == nil {
		return fmt.Sprintf("%s: %s (key is gone)", e.Key, ErrConflict)
	}
	return fmt.Sprintf("%s: %s (current revision %d)", e.Key, ErrConflict, e.Current.Revision)
}

// Is makes errors.Is(err, ErrConflict) and, for a vanished key,
// errors.Is(err, ErrNotFound) true.
func (e *ConflictError) Is(target error) bool {
	return target == ErrConflict || (target == ErrNotFound && e.Current.Value == nil)
}

// KeyValue is one stored value with the revision it was last written at.
// Value is owned by the caller once returned.
type KeyValue struct {
	Key      string
	Value    []byte
	Revision int64
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota
	EventDelete
)

// Event is one change seen by a watch: Value is the new value of a put and
// nil for a delete (a watcher that needs the previous value keeps it, as
// the watch cache does). Revision is the revision of the change.
type Event struct {
	Type     EventType
	Key      string
	Value    []byte
	Revision int64
	// Create is true when a put created the key.
	Create bool
}

// WatchResult is what a watch channel carries: a batch of events in revision
// order, or a terminal error (ErrCompacted, or the reason the watch ended).
type WatchResult struct {
	Events []Event
	// Progress is a revision all events up to which have been delivered; it is
	// set on progress notifications (no events) so caches can advance.
	Progress int64
	Err      error
}

// Interface is the storage contract. All methods are safe for concurrent use.
// Keys are absolute within the store's prefix (they start with "/").
type Interface interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)
	// List returns every key under prefix (which should end in "/") in key
	// order, as of revision (0 means the latest), and the revision of the
	// read. limit > 0 returns at most limit keys starting at or after
	// startKey; more reports whether keys remain.
	List(ctx context.Context, prefix, startKey string, revision int64, limit int64) (kvs []KeyValue, rev int64, more bool, err error)
	// Count returns how many keys under prefix are at or after startKey, as
	// of revision (0: latest).
	Count(ctx context.Context, prefix, startKey string, revision int64) (int64, error)
	// Create stores value under key if the key does not exist (ErrExists
	// otherwise) and returns the new revision.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update replaces key's value if its revision is still expectedRevision
	// (*ConflictError otherwise; ErrNotFound if the key is gone) and returns
	// the new revision. expectedRevision 0 means unconditional (but the key
	// must exist).
	Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error)
	// Delete removes key if its revision is still expectedRevision (0: any)
	// and returns the deleted value and the revision of the deletion.
	Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, int64, error)
	// Watch streams every change under prefix after revision fromRevision
	// (exclusive). The channel is closed when ctx ends or after a result
	// carrying Err. A compacted fromRevision yields ErrCompacted.
	Watch(ctx context.Context, prefix string, fromRevision int64) <-chan WatchResult
	// RequestProgress asks for a result with the store's current revision
	// (Progress, no events) on every open watch, so a watcher learns that
	// the store moved on when nothing it watches changed. Best effort: a
	// watcher that cannot take it now may miss it.
	RequestProgress(ctx context.Context) error
	// CurrentRevision returns the latest revision of the store (a quorum read).
	CurrentRevision(ctx context.Context) (int64, error)
	// Compact discards history before revision.
	Compact(ctx context.Context, revision int64) error
	// Ready reports nil when the backend answers.
	Ready(ctx context.Context) error
}
