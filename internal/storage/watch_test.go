package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const watchTimeout = 10 * time.Second

// startWatchEtcd starts an embedded etcd for one test.
func startWatchEtcd(t *testing.T) *Embedded {
	t.Helper()
	e, err := StartEmbedded(context.Background(), EmbeddedConfig{Dir: t.TempDir(), CompactionRetention: -1})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// forEachSource runs test as a subtest for each way a store follows etcd:
// the embedded server's MVCC store directly ("local"), and the client, as
// for an external cluster ("client"). Both must report the same results.
// The subtests share one etcd; each should keep to keys under "/"+name.
func forEachSource(t *testing.T, test func(t *testing.T, ctx context.Context, e *Embedded, name string, s Interface)) {
	e := startWatchEtcd(t)
	for name, s := range map[string]Interface{"local": e.Store("/registry"), "client": NewEtcd(e.Client(), "/registry")} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			test(t, ctx, e, name, s)
		})
	}
}

// next reads one result, failing the test after watchTimeout.
func next(t *testing.T, ch <-chan WatchResult) WatchResult {
	t.Helper()
	select {
	case res, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return res
	case <-time.After(watchTimeout):
		t.Fatal("no watch result within the deadline")
	}
	return WatchResult{}
}

// nextEvents reads results until n events arrived, skipping progress.
func nextEvents(t *testing.T, ch <-chan WatchResult, n int) []Event {
	t.Helper()
	var evs []Event
	for len(evs) < n {
		res := next(t, ch)
		if res.Err != nil {
			t.Fatalf("watch error: %v", res.Err)
		}
		evs = append(evs, res.Events...)
	}
	return evs
}

func TestWatch_EventsAfterRevision(t *testing.T) {
	t.Parallel()
	forEachSource(t, func(t *testing.T, ctx context.Context, _ *Embedded, name string, s Interface) {
		prefix := "/" + name
		before, err := s.Create(ctx, prefix+"/ns/before", []byte("0"))
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Watch(ctx, prefix+"/", before)
		created, err := s.Create(ctx, prefix+"/ns/a", []byte("1"))
		if err != nil {
			t.Fatal(err)
		}
		updated, err := s.Update(ctx, prefix+"/ns/a", []byte("2"), created)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "/elsewhere"+prefix, []byte("-")); err != nil { // not under the prefix
			t.Fatal(err)
		}
		_, deleted, err := s.Delete(ctx, prefix+"/ns/a", updated)
		if err != nil {
			t.Fatal(err)
		}
		want := []Event{
			{Type: EventPut, Key: prefix + "/ns/a", Value: []byte("1"), Revision: created, Create: true},
			{Type: EventPut, Key: prefix + "/ns/a", Value: []byte("2"), Revision: updated},
			{Type: EventDelete, Key: prefix + "/ns/a", Revision: deleted},
		}
		if diff := cmp.Diff(want, nextEvents(t, ch, 3)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestWatch_ProgressReportsRevisionOutsidePrefix(t *testing.T) {
	t.Parallel()
	forEachSource(t, func(t *testing.T, ctx context.Context, e *Embedded, name string, s Interface) {
		rev, err := s.CurrentRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Watch(ctx, "/"+name+"/", rev)
		// A write the watch does not see: only progress can tell it.
		resp, err := e.Client().Put(ctx, "/outside/"+name, "x")
		if err != nil {
			t.Fatal(err)
		}
		target := resp.Header.Revision
		deadline := time.Now().Add(watchTimeout)
		for {
			if err := s.RequestProgress(ctx); err != nil {
				t.Fatalf("RequestProgress: %v", err)
			}
			res := next(t, ch)
			if res.Err != nil || len(res.Events) != 0 {
				t.Fatalf("unexpected result %+v", res)
			}
			if res.Progress >= target {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("progress %d never reached %d", res.Progress, target)
			}
		}
	})
}

func TestWatch_CompactedRevision(t *testing.T) {
	t.Parallel()
	forEachSource(t, func(t *testing.T, ctx context.Context, _ *Embedded, name string, s Interface) {
		first, err := s.Create(ctx, "/"+name+"/ns/a", []byte("1"))
		if err != nil {
			t.Fatal(err)
		}
		last, err := s.Update(ctx, "/"+name+"/ns/a", []byte("2"), first)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(ctx, last); err != nil {
			t.Fatal(err)
		}
		ch := s.Watch(ctx, "/"+name+"/", first-1)
		res := next(t, ch)
		if !errors.Is(res.Err, ErrCompacted) {
			t.Fatalf("result %+v, want ErrCompacted", res)
		}
		if _, ok := <-ch; ok {
			t.Error("channel still open after the error")
		}
	})
}

func TestWatch_EndsWithContext(t *testing.T) {
	t.Parallel()
	forEachSource(t, func(t *testing.T, parent context.Context, _ *Embedded, name string, s Interface) {
		ctx, cancel := context.WithCancel(parent)
		ch := s.Watch(ctx, "/"+name+"/", 0)
		cancel()
		deadline := time.After(watchTimeout)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("watch channel not closed after cancel")
			}
		}
	})
}

// The local source must not leak etcd watch streams: each ended watch
// releases its stream.
func TestLocalWatch_ReleasesStream(t *testing.T) {
	t.Parallel()
	s := startWatchEtcd(t).Store("/registry").(*etcdStore)
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx, "/", 0)
	if got := streams(s.local); got != 1 {
		t.Fatalf("open streams = %d, want 1", got)
	}
	cancel()
	for range ch {
	}
	if got := streams(s.local); got != 0 {
		t.Errorf("open streams after the watch ended = %d, want 0", got)
	}
}

func streams(l *localWatches) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.streams)
}
