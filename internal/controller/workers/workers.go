// Package workers runs the loop every queue-driven controller shares: start
// the informers, wait for their caches, then let n workers take keys from a
// rate-limited queue until the context ends, retrying failed keys with
// back-off.
package workers

import (
	"context"
	"fmt"
	"log/slog"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Loop describes one controller's queue and what it does with a key.
type Loop[K comparable] struct {
	// Name names the controller in errors and logs.
	Name string
	Log  *slog.Logger
	// Start starts the informers (called with ctx.Done()).
	Start  func(stop <-chan struct{})
	Synced []cache.InformerSynced
	Queue  workqueue.TypedRateLimitingInterface[K]
	// Sync handles one key; an error requeues it with back-off and is
	// logged with the key under KeyName.
	Sync    func(ctx context.Context, key K) error
	KeyName string
}

// Run starts the informers, waits for their caches and runs n workers until
// ctx ends; it shuts the queue down and returns once they have stopped.
func (l Loop[K]) Run(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("%s: workers must be positive, got %d", l.Name, n)
	}
	var group wait.Group
	defer group.Wait()
	defer l.Queue.ShutDown()
	l.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), l.Synced...) {
		return fmt.Errorf("%s: waiting for caches: %w", l.Name, context.Cause(ctx))
	}
	l.Log.Info(l.Name+" started", "workers", n)
	for range n {
		group.StartWithContext(ctx, l.work)
	}
	<-ctx.Done()
	return nil
}

func (l Loop[K]) work(ctx context.Context) {
	for {
		key, quit := l.Queue.Get()
		if quit {
			return
		}
		if err := l.Sync(ctx, key); err != nil {
			if ctx.Err() == nil {
				l.Log.Error(l.Name+": sync failed", l.KeyName, key, "err", err)
			}
			l.Queue.AddRateLimited(key)
		} else {
			l.Queue.Forget(key)
		}
		l.Queue.Done(key)
	}
}
