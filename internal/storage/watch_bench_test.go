package storage

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWatch_Lag measures how far a watch runs behind the writes it
// reports: 16 workers create and update keys while one watch follows them,
// and each event's delay is taken from the moment its write returned (an
// event that arrives before that counts as 0). The embedded store's local
// watch against the in-process client's.
func BenchmarkWatch_Lag(b *testing.B) {
	e, err := StartEmbedded(context.Background(), EmbeddedConfig{Dir: b.TempDir(), CompactionRetention: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, src := range []struct {
		name  string
		store Interface
	}{{"local", e.Store("/registry")}, {"client", NewEtcd(e.Client(), "/registry")}} {
		run := 0
		b.Run(src.name, func(b *testing.B) {
			run++ // the framework calls this more than once: fresh keys each time
			benchmarkWatchLag(b, src.store, fmt.Sprintf("/%s%d", src.name, run))
		})
	}
}

func benchmarkWatchLag(b *testing.B, s Interface, prefix string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rev, err := s.CurrentRevision(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu      sync.Mutex
		written = map[int64]time.Time{} // revision -> when its write returned
		seen    = map[int64]time.Time{} // revision -> when the watch delivered it
	)
	ops := 2 * b.N // a create and an update per iteration
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		for res := range s.Watch(ctx, prefix+"/", rev) {
			if res.Err != nil {
				b.Error(res.Err)
				return
			}
			now := time.Now()
			mu.Lock()
			for _, ev := range res.Events {
				seen[ev.Revision] = now
			}
			mu.Unlock()
			if n += len(res.Events); n >= ops {
				return
			}
		}
	}()
	value := make([]byte, 1500)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("%s/ns/k%d", prefix, i)
				created, err := s.Create(ctx, key, value)
				if err != nil {
					b.Error(err)
					return
				}
				now := time.Now()
				updated, err := s.Update(ctx, key, value[:1000], created)
				if err != nil {
					b.Error(err)
					return
				}
				later := time.Now()
				mu.Lock()
				written[created], written[updated] = now, later
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("watch did not deliver every event")
	}
	b.StopTimer()
	lags := make([]time.Duration, 0, len(written))
	for r, w := range written {
		lags = append(lags, max(0, seen[r].Sub(w)))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
}
