package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
)

// localWatches follows keys of the embedded etcd straight from its MVCC
// store: the watch stream etcd's own gRPC service reads from.
//
// Through the in-process client an event crossed four goroutines (etcd's
// send loop, the gRPC adapter, the client's stream and substream) and each
// handoff waited for a core. On two busy cores the watch cache ran 20 - 30 ms
// (p99 over 100 ms) behind the writes it had to reflect, the in-process
// informers with it, and stale informers make conflicting writes. Read
// here, an event reaches the cache within a couple of milliseconds.
//
// Reads and writes still go through the client, and an external cluster is
// watched through it as before: only the source of the watch differs.
type localWatches struct {
	kv mvcc.WatchableKV

	mu      sync.Mutex
	streams map[*localStream]struct{}
}

// progressRetry is how often a progress request etcd could not answer yet
// (its watcher was catching up) is repeated.
const progressRetry = 10 * time.Millisecond

type localStream struct {
	ws mvcc.WatchStream
	// pending is set while a progress request waits for the watcher to
	// catch up (etcd answers only synced watchers); deferred tells the
	// stream's goroutine to retry it.
	mu       sync.Mutex
	pending  bool
	deferred chan struct{}
}

func newLocalWatches(kv mvcc.WatchableKV) *localWatches {
	return &localWatches{kv: kv, streams: map[*localStream]struct{}{}}
}

// watch implements Interface.Watch for keys under fullPrefix, reporting keys
// without trimPrefix.
func (l *localWatches) watch(ctx context.Context, fullPrefix, trimPrefix string, fromRevision int64) <-chan WatchResult {
	out := make(chan WatchResult, 100)
	st := &localStream{ws: l.kv.NewWatchStream(), deferred: make(chan struct{}, 1)}
	start := int64(0) // etcd: from the next revision
	if fromRevision > 0 {
		start = fromRevision + 1
	}
	end := clientv3.GetPrefixRangeEnd(fullPrefix)
	if _, err := st.ws.Watch(ctx, mvcc.WatchID(clientv3.AutoWatchID), []byte(fullPrefix), []byte(end), start); err != nil {
		st.ws.Close()
		out <- WatchResult{Err: fmt.Errorf("watching %s: %w", fullPrefix, err)}
		close(out)
		return out
	}
	l.mu.Lock()
	l.streams[st] = struct{}{}
	l.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			l.mu.Lock()
			delete(l.streams, st)
			l.mu.Unlock()
			st.ws.Close()
		}()
		var retry <-chan time.Time // armed while a progress request waits
		for {
			var resp mvcc.WatchResponse
			select {
			case <-ctx.Done():
				return
			case <-st.deferred:
				retry = time.After(progressRetry)
				continue
			case <-retry:
				retry = nil
				if st.retryProgress() {
					retry = time.After(progressRetry)
				}
				continue
			case resp = <-st.ws.Chan():
			}
			if !deliver(ctx, out, localResult(resp, trimPrefix)) {
				return
			}
		}
	}()
	return out
}

// requestProgress asks every open stream for its revision. A stream whose
// watcher is still catching up answers once it has.
func (l *localWatches) requestProgress() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for st := range l.streams {
		st.mu.Lock()
		if !st.pending && !st.ws.RequestProgressAll() {
			st.pending = true
			select {
			case st.deferred <- struct{}{}:
			default:
			}
		}
		st.mu.Unlock()
	}
}

// retryProgress repeats a deferred progress request and reports whether it
// is still pending.
func (st *localStream) retryProgress() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.pending {
		st.pending = !st.ws.RequestProgressAll()
	}
	return st.pending
}

// localResult converts one MVCC watch response. Only a response without
// events reports progress: a catching-up watcher's batches carry etcd's
// current revision while later events are still to come.
func localResult(resp mvcc.WatchResponse, trimPrefix string) WatchResult {
	if resp.CompactRevision != 0 {
		return compactedResult(resp.CompactRevision)
	}
	if len(resp.Events) == 0 {
		return WatchResult{Progress: resp.Revision}
	}
	events := make([]Event, 0, len(resp.Events))
	for _, ev := range resp.Events {
		events = append(events, toEvent(ev, trimPrefix))
	}
	return WatchResult{Events: events}
}

// toEvent converts an etcd event; keys lose trimPrefix.
func toEvent(ev *mvccpb.Event, trimPrefix string) Event {
	e := Event{Key: strings.TrimPrefix(string(ev.Kv.Key), trimPrefix), Revision: ev.Kv.ModRevision}
	if ev.Type == mvccpb.DELETE {
		e.Type = EventDelete
		return e
	}
	e.Type = EventPut
	e.Value = ev.Kv.Value
	e.Create = ev.Kv.CreateRevision == ev.Kv.ModRevision
	return e
}
