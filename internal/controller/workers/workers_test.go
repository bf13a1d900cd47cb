package workers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// A failing key is retried with back-off until it succeeds; Run returns
// once ctx ends and the workers have stopped.
func TestLoop_Run_RetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	var mu sync.Mutex
	attempts := map[string]int{}
	done := make(chan struct{})
	loop := Loop[string]{
		Name: "test", Log: slog.New(slog.DiscardHandler), Queue: queue, KeyName: "key",
		Start:  func(<-chan struct{}) {},
		Synced: []cache.InformerSynced{func() bool { return true }},
		Sync: func(_ context.Context, key string) error {
			mu.Lock()
			defer mu.Unlock()
			attempts[key]++
			if attempts[key] < 3 {
				return errors.New("not yet")
			}
			close(done)
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(ctx, 2) }()
	queue.Add("a")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the key never succeeded")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := queue.NumRequeues("a"); n != 0 {
		t.Errorf("requeues after success = %d, want 0 (forgotten)", n)
	}
}

func TestLoop_Run_RejectsNoWorkers(t *testing.T) {
	t.Parallel()
	loop := Loop[string]{Name: "test", Queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	if err := loop.Run(context.Background(), 0); err == nil {
		t.Fatal("Run with 0 workers succeeded")
	}
}
