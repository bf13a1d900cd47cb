package cacher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchOptions says where a watch starts and what it sends.
type WatchOptions struct {
	// FromRevision: send changes after it. 0 means "now", with the current
	// state first as ADDED events when InitialEvents is set.
	FromRevision int64
	// InitialEvents sends the matching state as ADDED events before changes
	// (RV "" or "0", or sendInitialEvents=true).
	InitialEvents bool
	// Bookmarks sends periodic BOOKMARK events.
	Bookmarks bool
	// InitialEventsEndBookmark sends, after the initial events, a BOOKMARK
	// annotated k8s.io/initial-events-end (sendInitialEvents=true).
	InitialEventsEndBookmark bool
	// NewObject makes the empty object bookmarks carry.
	NewObject func() runtime.Object
	// BookmarkInterval; default 30s.
	BookmarkInterval time.Duration
}

// bufferSize is how many events a watcher may fall behind before it is
// ended (the client re-watches from its last resourceVersion). Watch fan-out
// never blocks on a slow consumer.
const bufferSize = 4096

type watcher struct {
	pred   Predicate
	opts   WatchOptions
	buf    chan watch.Event // filled under hub.mu, never blocking
	result chan watch.Event // what the consumer reads
	// done ends the forwarding goroutine; closed once by stop.
	done     chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc
}

// Watch starts a watch on the resource. The returned interface's Stop, or
// ctx ending, ends it. Too old a FromRevision yields ErrTooOld. Objects that
// other watchers receive too come as *Encoded (GetObject gives the object).
func (c *Cache) Watch(ctx context.Context, p Predicate, opts WatchOptions) (watch.Interface, error) {
	if opts.BookmarkInterval == 0 {
		opts.BookmarkInterval = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{pred: p, opts: opts, buf: make(chan watch.Event, bufferSize), result: make(chan watch.Event), done: make(chan struct{}), cancel: cancel}

	c.hub.mu.Lock()
	initial, rev, err := c.startLocked(w)
	if err != nil {
		c.hub.mu.Unlock()
		cancel()
		return nil, err
	}
	c.watchers[w] = struct{}{}
	c.hub.mu.Unlock()

	go w.forward(ctx, c, initial, rev)
	return &handle{w: w, c: c}, nil
}

// startLocked computes what the watcher must see before live events.
func (c *Cache) startLocked(w *watcher) ([]watch.Event, int64, error) {
	rev := c.hub.rev
	var initial []watch.Event
	if w.opts.FromRevision == 0 || w.opts.InitialEvents {
		if w.opts.FromRevision != 0 && w.opts.FromRevision > rev {
			return nil, 0, fmt.Errorf("resource version %d is ahead of the cache (%d)", w.opts.FromRevision, rev)
		}
		if w.opts.InitialEvents {
			for _, e := range c.sortedLocked() {
				if w.pred.matches(e) {
					initial = append(initial, watch.Event{Type: watch.Added, Object: e.out})
				}
			}
		}
		return initial, rev, nil
	}
	if w.opts.FromRevision < c.oldest {
		return nil, 0, fmt.Errorf("%w: %d (%d)", ErrTooOld, w.opts.FromRevision, c.oldest)
	}
	n := len(c.history)
	for i := 0; i < c.size; i++ {
		e := c.history[(c.head+i)%n]
		if e.rev <= w.opts.FromRevision {
			continue
		}
		if ev, ok := w.convert(e); ok {
			initial = append(initial, ev)
		}
	}
	return initial, rev, nil
}

// convert applies upstream's selector transitions: an object that starts
// matching is ADDED, one that stops matching is DELETED (its previous state
// at the event's revision).
func (w *watcher) convert(e event) (watch.Event, bool) {
	curPasses := e.typ != watch.Deleted && w.pred.matches(e.cur)
	prevPasses := false
	switch {
	case e.typ == watch.Deleted:
		prevPasses = w.pred.matches(e.cur)
	case e.prev != nil:
		prevPasses = w.pred.matches(e.prev)
	}
	switch {
	case e.typ == watch.Deleted && prevPasses:
		return watch.Event{Type: watch.Deleted, Object: e.cur.out}, true
	case curPasses && !prevPasses:
		return watch.Event{Type: watch.Added, Object: e.cur.out}, true
	case curPasses && prevPasses:
		return watch.Event{Type: watch.Modified, Object: e.cur.out}, true
	case !curPasses && prevPasses:
		old := e.prev.obj.DeepCopyObject()
		if err := setResourceVersion(old, e.rev); err != nil {
			return watch.Event{}, false
		}
		return watch.Event{Type: watch.Deleted, Object: old}, true
	}
	return watch.Event{}, false
}

// send queues an event without blocking; false means the watcher is too far
// behind and must be dropped. Called with hub.mu held.
func (w *watcher) send(e event) bool {
	ev, ok := w.convert(e)
	if !ok {
		return true
	}
	select {
	case w.buf <- ev:
		return true
	default:
		return false
	}
}

// progress is a no-op hook: bookmarks read the hub revision on their timer.
func (w *watcher) progress(int64) {}

func (w *watcher) stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.cancel()
	})
}

// forward delivers initial events, then buffered live ones, to the consumer.
func (w *watcher) forward(ctx context.Context, c *Cache, initial []watch.Event, rev int64) {
	defer close(w.result)
	defer c.remove(w)
	out := func(ev watch.Event) bool {
		select {
		case w.result <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, ev := range initial {
		if !out(ev) {
			return
		}
	}
	if w.opts.InitialEventsEndBookmark {
		if !out(w.bookmark(rev, true)) {
			return
		}
	}
	var tick <-chan time.Time
	if w.opts.Bookmarks {
		t := time.NewTicker(w.opts.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case ev := <-w.buf:
			if !out(ev) {
				return
			}
		case <-tick:
			if !out(w.bookmark(c.hub.Revision(), false)) {
				return
			}
		case <-w.done:
			// Dropped (too slow, or relist): deliver what is buffered, then end.
			for {
				select {
				case ev := <-w.buf:
					if !out(ev) {
						return
					}
				default:
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *watcher) bookmark(rev int64, initialEnd bool) watch.Event {
	obj := w.opts.NewObject()
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(fmt.Sprint(rev))
		if initialEnd {
			m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
	}
	return watch.Event{Type: watch.Bookmark, Object: obj}
}

func (c *Cache) remove(w *watcher) {
	c.hub.mu.Lock()
	delete(c.watchers, w)
	c.hub.mu.Unlock()
	w.stop()
}

type handle struct {
	w *watcher
	c *Cache
}

func (h *handle) Stop()                          { h.w.stop() }
func (h *handle) ResultChan() <-chan watch.Event { return h.w.result }
