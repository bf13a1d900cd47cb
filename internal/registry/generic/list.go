package generic

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	apistorage "k8s.io/apiserver/pkg/storage"

	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// tooLargeWait is how long a read at a resourceVersion ahead of the cache
// waits for it before answering "Too large resource version" (upstream: 3s).
const tooLargeWait = 3 * time.Second

// DefaultAttrs returns labels and the metadata fields every resource has.
func DefaultAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	return labels.Set(m.GetLabels()), ObjectMetaFields(m), nil
}

// ObjectMetaFields returns metadata.name and metadata.namespace.
func ObjectMetaFields(m metav1.Object) fields.Set {
	return fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
}

func (s *Store) predicate(namespace string, opts *metainternalversion.ListOptions) cacher.Predicate {
	p := cacher.Predicate{Prefix: s.prefix(namespace)}
	if opts != nil {
		p.Label, p.Field = opts.LabelSelector, opts.FieldSelector
	}
	return p
}

func parseRV(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %v", err))
	}
	return int64(n), nil
}

// List returns the matching objects as the resource's list kind, honouring
// resourceVersion, resourceVersionMatch, limit and continue as upstream:
// first pages come from the watch cache (consistently: it first catches up
// with etcd), later pages and exact-revision reads from etcd.
func (s *Store) List(ctx context.Context, namespace string, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	rv, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	pred := s.predicate(namespace, opts)
	if opts.Continue != "" || opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
		return s.listFromEtcd(ctx, pred, rv, opts)
	}
	minRev, err := s.minRevision(ctx, opts.ResourceVersion, rv)
	if err != nil {
		return nil, err
	}
	items, rev, err := s.cache.List(ctx, pred, minRev)
	if err != nil {
		return nil, s.waitError(err, minRev)
	}
	list := s.cfg.NewListFunc()
	continueKey := ""
	if opts.Limit > 0 && int64(len(items)) > opts.Limit {
		last, _ := meta.Accessor(items[opts.Limit-1])
		k, _ := s.key(last.GetNamespace(), last.GetName())
		continueKey = k + "\x00"
		if err := setRemaining(list, int64(len(items))-opts.Limit, pred); err != nil {
			return nil, err
		}
		items = items[:opts.Limit]
	}
	return s.fillList(list, items, rev, pred.Prefix, continueKey)
}

// minRevision is what the cache must reflect before it answers: etcd's
// current revision for "" (a consistent read), none for "0", and the given
// revision otherwise.
func (s *Store) minRevision(ctx context.Context, raw string, rv int64) (int64, error) {
	switch raw {
	case "0":
		return 0, nil
	case "":
		cur, err := s.cfg.Storage.CurrentRevision(ctx)
		if err != nil {
			return 0, s.interpretGetError(err, "")
		}
		return cur, nil
	}
	return rv, nil
}

// waitError turns a cache wait that timed out into upstream's answer.
func (s *Store) waitError(err error, minRev int64) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return apistorage.NewTooLargeResourceVersionError(uint64(minRev), uint64(s.cfg.Hub.Revision()), 1)
	}
	return apierrors.NewInternalError(err)
}

func setRemaining(list runtime.Object, remaining int64, pred cacher.Predicate) error {
	if (pred.Label != nil && !pred.Label.Empty()) || (pred.Field != nil && !pred.Field.Empty()) {
		return nil // upstream reports it only for unfiltered lists
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	lm.SetRemainingItemCount(&remaining)
	return nil
}

// listFromEtcd pages through etcd at one revision, filtering as it goes.
func (s *Store) listFromEtcd(ctx context.Context, pred cacher.Predicate, rv int64, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	keyPrefix := pred.Prefix
	start := ""
	if opts.Continue != "" {
		from, tokenRV, err := apistorage.DecodeContinue(opts.Continue, keyPrefix)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
		}
		start = from
		if tokenRV > 0 {
			rv = tokenRV
		} else {
			rv = 0 // -1: continue at the latest revision
		}
	}
	var items []runtime.Object
	batch := max(opts.Limit, 500)
	for {
		kvs, headerRev, more, err := s.cfg.Storage.List(ctx, keyPrefix, start, rv, batch)
		if err != nil {
			if errors.Is(err, storage.ErrCompacted) {
				if opts.Continue != "" {
					return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
				}
				return nil, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
			}
			return nil, s.interpretGetError(err, "")
		}
		// A read at a given revision reports that revision; etcd's header
		// carries the current one.
		if rv == 0 {
			rv = headerRev
		}
		rev := rv
		for i, kv := range kvs {
			obj, err := s.decode(kv.Value, kv.Revision)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			if !s.matches(obj, kv.Key, pred) {
				continue
			}
			items = append(items, obj)
			if opts.Limit > 0 && int64(len(items)) == opts.Limit && (i < len(kvs)-1 || more) {
				list := s.cfg.NewListFunc()
				if err := s.setEtcdRemaining(ctx, list, pred, keyPrefix, kv.Key+"\x00", rev); err != nil {
					return nil, err
				}
				return s.fillList(list, items, rev, keyPrefix, kv.Key+"\x00")
			}
		}
		if !more || len(kvs) == 0 {
			return s.fillList(s.cfg.NewListFunc(), items, rev, keyPrefix, "")
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
}

// setEtcdRemaining reports how many objects follow a page read from etcd,
// for unfiltered lists (as upstream).
func (s *Store) setEtcdRemaining(ctx context.Context, list runtime.Object, pred cacher.Predicate, keyPrefix, next string, rev int64) error {
	if (pred.Label != nil && !pred.Label.Empty()) || (pred.Field != nil && !pred.Field.Empty()) {
		return nil
	}
	n, err := s.cfg.Storage.Count(ctx, keyPrefix, next, rev)
	if err != nil {
		return s.interpretGetError(err, "")
	}
	return setRemaining(list, n, pred)
}

func (s *Store) matches(obj runtime.Object, key string, pred cacher.Predicate) bool {
	l, f, err := s.cfg.AttrFunc(obj)
	if err != nil {
		return false
	}
	if pred.Label != nil && !pred.Label.Empty() && !pred.Label.Matches(l) {
		return false
	}
	return pred.Field == nil || pred.Field.Empty() || pred.Field.Matches(f)
}

// fillList sets items and list metadata; a continue token names the key to
// resume at, relative to keyPrefix (the prefix the list covers).
func (s *Store) fillList(list runtime.Object, items []runtime.Object, rev int64, keyPrefix, continueKey string) (runtime.Object, error) {
	if err := meta.SetList(list, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	if continueKey != "" {
		token, err := apistorage.EncodeContinue(continueKey, keyPrefix, rev)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		lm.SetContinue(token)
	}
	return list, nil
}

// Watch streams changes from the watch cache with upstream's
// resourceVersion semantics: "" and "0" start with the current state as
// ADDED events, N streams what happened after N (410 if the cache no longer
// holds it), and sendInitialEvents=true sends the state first and then a
// bookmark marking its end.
func (s *Store) Watch(ctx context.Context, namespace string, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	rv, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	wo := cacher.WatchOptions{Bookmarks: opts.AllowWatchBookmarks, NewObject: s.cfg.NewFunc, FromRevision: rv}
	switch {
	case opts.SendInitialEvents != nil:
		wo.InitialEvents = *opts.SendInitialEvents
		wo.InitialEventsEndBookmark = *opts.SendInitialEvents && opts.AllowWatchBookmarks
	case opts.ResourceVersion == "" || opts.ResourceVersion == "0":
		wo.InitialEvents = true
	}
	if wo.InitialEvents || rv > 0 {
		minRev, err := s.minRevision(ctx, opts.ResourceVersion, rv)
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, tooLargeWait)
		err = s.cfg.Hub.WaitForRevision(wctx, minRev)
		cancel()
		if err != nil {
			return nil, s.waitError(err, minRev)
		}
		if wo.InitialEvents {
			wo.FromRevision = 0
		}
	}
	w, err := s.cache.Watch(ctx, s.predicate(namespace, opts), wo)
	if errors.Is(err, cacher.ErrTooOld) {
		// Upstream reports this inside the watch stream, as an ERROR event.
		return errorWatch(apierrors.NewResourceExpired(err.Error()).Status()), nil
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return w, nil
}

// errorWatch is a watch that delivers one ERROR event carrying st and ends.
func errorWatch(st metav1.Status) watch.Interface {
	ch := make(chan watch.Event, 1)
	ch <- watch.Event{Type: watch.Error, Object: &st}
	close(ch)
	return &closedWatch{ch: ch}
}

type closedWatch struct{ ch chan watch.Event }

func (w *closedWatch) Stop()                          {}
func (w *closedWatch) ResultChan() <-chan watch.Event { return w.ch }
