package generic

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
)

// errStaleCache asks a read-modify-write loop to start again from etcd: a
// decision taken on the watch cache's copy might have been different on the
// latest state (a precondition or resourceVersion that did not match).
var errStaleCache = errors.New("cached object may be stale")

// state is the object a read-modify-write attempt starts from. obj may be
// shared with the watch cache: copy it before changing it.
type state struct {
	obj       runtime.Object
	raw       []byte // stored bytes
	rev       int64
	fromCache bool
}

// stateSource yields the starting state of each attempt of a
// compare-and-swap loop: the watch cache's copy first (saving etcd a
// linearizable read on the hot path; the CAS catches staleness), then what a
// failed CAS reported as current, then a read from etcd.
type stateSource struct {
	s         *Store
	key, name string
	useCache  bool
	next      *storage.KeyValue
}

func (s *Store) states(key, name string) *stateSource {
	return &stateSource{s: s, key: key, name: name, useCache: true}
}

func (src *stateSource) get(ctx context.Context) (state, error) {
	if kv := src.next; kv != nil {
		src.next = nil
		obj, err := src.s.decode(kv.Value, kv.Revision)
		if err != nil {
			return state{}, apierrors.NewInternalError(err)
		}
		return state{obj: obj, raw: kv.Value, rev: kv.Revision}, nil
	}
	if src.useCache {
		src.useCache = false
		if obj, raw, ok := src.s.cache.Get(src.key); ok {
			return state{obj: obj, raw: raw, rev: revisionOf(obj), fromCache: true}, nil
		}
	}
	obj, raw, err := src.s.read(ctx, src.key, src.name)
	if err != nil {
		return state{}, err
	}
	return state{obj: obj, raw: raw, rev: revisionOf(obj)}, nil
}

// retry reports whether err means "try again" and prepares the next state.
func (src *stateSource) retry(err error) bool {
	var ce *storage.ConflictError
	switch {
	case errors.As(err, &ce) && ce.Current.Value != nil:
		src.next = &ce.Current
		return true
	case errors.Is(err, errStaleCache):
		return true
	case errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound):
		return true
	}
	return false
}
