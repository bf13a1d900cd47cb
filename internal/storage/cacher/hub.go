// Package cacher is Skiff's watch cache: one etcd watch over the whole
// registry feeds an in-memory copy of every resource, which serves watches and
// (consistent) lists, so etcd sees writes, not fan-out.
//
// The Hub owns the single etcd watch and advances one revision for all
// resources; each resource registers a Cache with the Hub before Start.
//
//	hub := cacher.NewHub(cacher.HubConfig{Storage: store, Logger: log})
//	jobs := hub.Register("/jobs/", decodeJob, jobAttrs)
//	go hub.Run(ctx)
//	<-hub.Ready()
//	items, rev, err := jobs.List(ctx, cacher.ListOptions{Prefix: "/jobs/default/"})
package cacher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
)

// HubConfig configures NewHub.
type HubConfig struct {
	// Storage is what the hub lists and watches. Required.
	Storage storage.Interface
	// Logger; default slog.Default().
	Logger *slog.Logger
	// HistorySize is how many events each resource keeps for watches that
	// start in the past. Default 8192.
	HistorySize int
}

// Hub feeds every registered Cache from one etcd watch.
type Hub struct {
	cfg    HubConfig
	logger *slog.Logger

	// mu guards rev and caches; cond is signalled whenever rev advances so
	// consistent reads can wait for the cache to catch up with etcd.
	mu     sync.Mutex
	cond   *sync.Cond
	rev    int64
	caches map[string]*Cache // by top-level key segment ("jobs")

	ready     chan struct{}
	readyOnce sync.Once
}

// NewHub returns a Hub; register caches, then Run it.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 8192
	}
	h := &Hub{cfg: cfg, logger: cfg.Logger.With("component", "watch-cache"), caches: map[string]*Cache{}, ready: make(chan struct{})}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// DecodeFunc turns stored bytes into an object whose resourceVersion is rev.
type DecodeFunc func(value []byte, rev int64) (runtime.Object, error)

// Register adds a resource whose keys live under prefix ("/jobs/"). It must
// be called before Run.
func (h *Hub) Register(prefix string, decode DecodeFunc, attrs AttrFunc) *Cache {
	c := newCache(h, prefix, decode, attrs, h.cfg.HistorySize)
	h.mu.Lock()
	h.caches[segment(prefix)] = c
	h.mu.Unlock()
	return c
}

// Ready is closed once the initial list has been loaded.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Revision is the revision every cache reflects.
func (h *Hub) Revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Run loads every resource and follows etcd until ctx ends. On a watch error
// (etcd restart, compaction of a revision we still needed) it relists and
// resumes; watchers of the caches are ended so clients re-watch.
func (h *Hub) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.runOnce(ctx)
		if ctx.Err() != nil {
			break
		}
		h.logger.Warn("watch cache restarting", "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	h.mu.Lock()
	for _, c := range h.caches {
		c.stopWatchers()
	}
	h.cond.Broadcast()
	h.mu.Unlock()
}

func (h *Hub) runOnce(ctx context.Context) error {
	kvs, rev, err := h.listAll(ctx)
	if err != nil {
		return fmt.Errorf("initial list: %w", err)
	}
	h.mu.Lock()
	byCache := map[*Cache][]storage.KeyValue{}
	for _, kv := range kvs {
		if c := h.caches[segment(kv.Key)]; c != nil {
			byCache[c] = append(byCache[c], kv)
		}
	}
	for _, c := range h.caches {
		c.replace(byCache[c], rev)
	}
	h.rev = rev
	h.cond.Broadcast()
	h.mu.Unlock()
	h.readyOnce.Do(func() { close(h.ready) })

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for res := range h.cfg.Storage.Watch(wctx, "/", rev) {
		if res.Err != nil {
			return res.Err
		}
		h.apply(res)
	}
	return ctx.Err()
}

// listAll pages through the whole registry at one revision.
func (h *Hub) listAll(ctx context.Context) ([]storage.KeyValue, int64, error) {
	var all []storage.KeyValue
	start, rev := "", int64(0)
	for {
		kvs, r, more, err := h.cfg.Storage.List(ctx, "/", start, rev, 10000)
		if err != nil {
			return nil, 0, err
		}
		rev = r
		all = append(all, kvs...)
		if !more || len(kvs) == 0 {
			return all, rev, nil
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
}

func (h *Hub) apply(res storage.WatchResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range res.Events {
		if c := h.caches[segment(ev.Key)]; c != nil {
			c.apply(ev)
		}
		h.rev = max(h.rev, ev.Revision)
	}
	if res.Progress > h.rev {
		h.rev = res.Progress
		for _, c := range h.caches {
			c.progress(h.rev)
		}
	}
	h.cond.Broadcast()
}

// WaitForRevision blocks until the caches reflect rev or ctx ends.
func (h *Hub) WaitForRevision(ctx context.Context, rev int64) error {
	h.mu.Lock()
	caughtUp := h.rev >= rev
	h.mu.Unlock()
	if caughtUp {
		return nil
	}
	// Ask etcd for a progress notification: when nothing under our prefix
	// changed, that is the only way the hub learns that etcd moved on. etcd
	// drops a notification it cannot queue at once, so ask again until
	// caught up.
	h.requestProgress(ctx)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.requestProgress(ctx)
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.rev < rev {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for watch cache to reach revision %d (at %d): %w", rev, h.rev, err)
		}
		h.cond.Wait()
	}
	return nil
}

// progressInterval is how often a wait for a revision repeats its progress
// request.
const progressInterval = 100 * time.Millisecond

func (h *Hub) requestProgress(ctx context.Context) {
	if err := h.cfg.Storage.RequestProgress(ctx); err != nil {
		h.logger.Debug("requesting watch progress", "err", err)
	}
}

// ErrTooOld is returned for a watch from a revision the cache no longer holds.
var ErrTooOld = errors.New("too old resource version")

// segment returns the first path segment of a key: "/jobs/ns/x" -> "jobs".
func segment(key string) string {
	key = strings.TrimPrefix(key, "/")
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return key
}
