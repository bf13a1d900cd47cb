package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// watchWriters makes the changes the watchers must see.
type watchWriters struct {
	e       *env
	next    atomic.Int64 // index of the next change to make, over all writers
	acked   atomic.Int64 // changes acknowledged by the server
	latency Recorder
	errs    ErrorCounts

	mu  sync.Mutex // guards rvs: writers append concurrently
	rvs map[uint64]struct{}
}

// run starts cfg.Writers writers and waits for them. Each owns one
// ConfigMap: its first change creates it, later changes update it from the
// object the previous write returned, so writers never conflict.
func (w *watchWriters) run(ctx context.Context, cfg WatchConfig) {
	w.rvs = map[uint64]struct{}{}
	startCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var wg sync.WaitGroup
	for i := range cfg.Writers {
		wg.Go(func() { w.writer(ctx, startCtx, cfg.N, "watch-"+strconv.Itoa(i)) })
	}
	wg.Wait()
}

// writer makes changes to one ConfigMap until n changes in total were
// started or startCtx is done. Requests use ctx so a change in flight
// completes and is accounted for.
func (w *watchWriters) writer(ctx, startCtx context.Context, n int, name string) {
	client := w.e.client.CoreV1().ConfigMaps(w.e.namespace)
	var cur *corev1.ConfigMap
	for seq := 0; startCtx.Err() == nil; seq++ {
		if i := w.next.Add(1) - 1; n > 0 && i >= int64(n) {
			return
		}
		obj := cur
		if obj == nil {
			obj = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.e.namespace, Labels: w.e.labels()}}
		}
		obj = obj.DeepCopy()
		start := time.Now()
		if obj.Annotations == nil {
			obj.Annotations = map[string]string{}
		}
		obj.Annotations[sentAnnotation] = strconv.FormatInt(start.UnixNano(), 10)
		obj.Data = map[string]string{"seq": strconv.Itoa(seq)}
		var got *corev1.ConfigMap
		var err error
		if cur == nil {
			got, err = client.Create(ctx, obj, metav1.CreateOptions{})
		} else {
			got, err = client.Update(ctx, obj, metav1.UpdateOptions{})
		}
		if err != nil {
			if ctx.Err() == nil {
				w.errs.Add(err)
			}
			continue
		}
		w.latency.Record(time.Since(start))
		rv, err := parseRV(got.ResourceVersion)
		if err != nil {
			w.errs.Add(err)
			continue
		}
		cur = got
		w.mu.Lock()
		w.rvs[rv] = struct{}{}
		w.mu.Unlock()
		w.acked.Add(1)
	}
}

// expected returns the resourceVersions of all acknowledged changes.
// Writers must have stopped.
func (w *watchWriters) expected() map[uint64]struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rvs
}
