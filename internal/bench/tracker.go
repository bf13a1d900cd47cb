package bench

import (
	"context"
	"sync"
	"time"
)

// tracker holds state that watch goroutines update and the scenario's main
// goroutine waits on. Embed it next to the state it guards.
type tracker struct {
	mu sync.Mutex // guards the embedding struct's state and err
	// notify wakes a waiter after each update; buffered so updaters never
	// block, and one pending wake-up is enough because waiters re-check.
	notify chan struct{}
	err    error
}

func newTracker() tracker {
	return tracker{notify: make(chan struct{}, 1)}
}

// update runs fn under the lock and wakes the waiter.
func (t *tracker) update(fn func()) {
	t.mu.Lock()
	fn()
	t.mu.Unlock()
	t.wake()
}

// fail records the first error from a watch goroutine and wakes the waiter.
func (t *tracker) fail(err error) {
	if err == nil {
		return
	}
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
	t.wake()
}

func (t *tracker) wake() {
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// wait blocks until cond (called under the lock) holds, a watch failed, or
// timeout passes. It returns false on timeout and the watch error if any.
func (t *tracker) wait(parent context.Context, timeout time.Duration, cond func() bool) (bool, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		t.mu.Lock()
		ok, err := cond(), t.err
		t.mu.Unlock()
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, parent.Err()
		case <-t.notify:
		}
	}
}
