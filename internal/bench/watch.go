package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Defaults of WatchConfig.
const (
	DefaultWatchers     = 10
	DefaultWatchEvents  = 1000
	DefaultWatchWriters = 1
)

// sentAnnotation carries the write's start time (Unix nanoseconds) so a
// watcher can compute delivery latency from the event alone.
const sentAnnotation = "skiff-bench/sent"

// WatchConfig configures RunWatch.
type WatchConfig struct {
	Common
	// Watchers is the number of concurrent watches on the ConfigMaps of the
	// run. Default 10.
	Watchers int
	// Writers is the number of concurrent writers; each creates one
	// ConfigMap and then updates it. Default 1.
	Writers int
	// N is the number of changes (creates plus updates) in total. When both
	// N and Duration are 0, N defaults to 1000. When both are set, writing
	// stops at whichever comes first.
	N int
	// Duration, when > 0, stops writing after this long.
	Duration time.Duration
}

// WatchResult is the outcome of RunWatch. Delivery latency runs from the
// start of a write request to the arrival of its event at a watcher, one
// sample per event per watcher. Lost, Duplicates, OutOfOrder and Unexpected
// are summed over watchers and must all be 0.
type WatchResult struct {
	Scenario        string         `json:"scenario"`
	Namespace       string         `json:"namespace"`
	ContentType     string         `json:"content_type"`
	Watchers        int            `json:"watchers"`
	Writers         int            `json:"writers"`
	Events          int            `json:"events"`
	ElapsedSeconds  float64        `json:"elapsed_seconds"`
	WritesPerSecond float64        `json:"writes_per_second"`
	Write           LatencySummary `json:"write"`
	Delivery        LatencySummary `json:"delivery"`
	Lost            int            `json:"lost"`
	Duplicates      int            `json:"duplicates"`
	OutOfOrder      int            `json:"out_of_order"`
	Unexpected      int            `json:"unexpected"`
	ErrorTotal      int            `json:"error_total"`
	Errors          map[string]int `json:"errors,omitempty"`
	Failures        []string       `json:"failures,omitempty"`
	Server          *ProcStats     `json:"server,omitempty"`
}

// Summary implements Result.
func (r WatchResult) Summary() string {
	return fmt.Sprintf("watch: delivery p50 %.1f ms, p99 %.1f ms, %d watchers x %d events, %d lost, %d out-of-order, %d duplicate%s",
		r.Delivery.P50Ms, r.Delivery.P99Ms, r.Watchers, r.Events, r.Lost, r.OutOfOrder, r.Duplicates, r.Server.summarySuffix())
}

// eventChecker verifies one watcher's stream: every resourceVersion exactly
// once and in increasing order. Owned by one goroutine.
type eventChecker struct {
	seen       map[uint64]int
	last       uint64
	duplicates int
	outOfOrder int
}

func newEventChecker() *eventChecker {
	return &eventChecker{seen: map[uint64]int{}}
}

// observe records one event's resourceVersion.
func (c *eventChecker) observe(rv uint64) {
	switch {
	case c.seen[rv] > 0:
		c.duplicates++
	case rv < c.last:
		c.outOfOrder++
	}
	c.seen[rv]++
	c.last = max(c.last, rv)
}

// compare counts expected versions never seen and seen versions never
// written.
func (c *eventChecker) compare(expected map[uint64]struct{}) (lost, unexpected int) {
	for rv := range expected {
		if c.seen[rv] == 0 {
			lost++
		}
	}
	for rv := range c.seen {
		if _, ok := expected[rv]; !ok {
			unexpected++
		}
	}
	return lost, unexpected
}

// watcher is one watch of the scenario.
type watcher struct {
	checker  *eventChecker // owned by the watch goroutine until it exits
	received atomic.Int64
	badEvent atomic.Pointer[string] // first malformed event, for the report
}

// RunWatch runs Watchers watches on the run's ConfigMaps while Writers
// writers make N changes, and checks that every watcher receives every
// change exactly once and in resourceVersion order.
func RunWatch(ctx context.Context, cfg WatchConfig) (WatchResult, error) {
	cfg, err := watchDefaults(cfg)
	if err != nil {
		return WatchResult{}, err
	}
	e, err := setup(ctx, cfg.Common, "watch")
	if err != nil {
		return WatchResult{}, fmt.Errorf("watch: %w", err)
	}
	defer e.cleanup(ctx)
	res, err := e.watch(ctx, cfg)
	if err != nil {
		return WatchResult{}, fmt.Errorf("watch: %w", err)
	}
	return res, verdict("watch", res.Failures)
}

func watchDefaults(cfg WatchConfig) (WatchConfig, error) {
	if cfg.Watchers < 0 || cfg.Writers < 0 || cfg.N < 0 || cfg.Duration < 0 {
		return cfg, errors.New("watch: watchers, writers, n and duration must not be negative")
	}
	if cfg.Watchers == 0 {
		cfg.Watchers = DefaultWatchers
	}
	if cfg.Writers == 0 {
		cfg.Writers = DefaultWatchWriters
	}
	if cfg.N == 0 && cfg.Duration == 0 {
		cfg.N = DefaultWatchEvents
	}
	return cfg, nil
}

func (e *env) watch(ctx context.Context, cfg WatchConfig) (WatchResult, error) {
	res := WatchResult{Scenario: "watch", Namespace: e.namespace, ContentType: e.ContentType,
		Watchers: cfg.Watchers, Writers: cfg.Writers}
	t := newTracker()
	var delivery Recorder
	watchers, stopWatchers, err := e.startWatchers(ctx, cfg.Watchers, &t, &delivery)
	if err != nil {
		return res, err
	}
	defer stopWatchers()

	stopServer := e.serverSampler(ctx)
	w := &watchWriters{e: e}
	stopProgress := startProgress(e.Progress, e.ProgressInterval, func() string {
		return fmt.Sprintf("watch: %d changes written, %d events delivered", w.acked.Load(), delivery.Count())
	})
	start := time.Now()
	w.run(ctx, cfg)
	elapsed := time.Since(start)
	expected := w.expected()
	_, err = t.wait(ctx, e.Timeout, func() bool {
		for _, wt := range watchers {
			if wt.received.Load() < int64(len(expected)) {
				return false
			}
		}
		return true
	})
	stopProgress()
	res.Server = stopServer()
	stopWatchers()
	if err != nil {
		return res, err
	}

	res.Events = len(expected)
	res.ElapsedSeconds = elapsed.Seconds()
	res.WritesPerSecond = float64(len(expected)) / elapsed.Seconds()
	res.Write = w.latency.Summary()
	res.Delivery = delivery.Summary()
	res.ErrorTotal, res.Errors = w.errs.Total(), w.errs.Snapshot()
	res.Failures = checkWatchers(&res, watchers, expected)
	if res.ErrorTotal > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d writes failed (by code %v), last: %v", res.ErrorTotal, res.Errors, w.errs.Last()))
	}
	return res, nil
}

// checkWatchers compares every watcher's stream with what was written.
// Watchers must have stopped.
func checkWatchers(res *WatchResult, watchers []*watcher, expected map[uint64]struct{}) []string {
	var failures []string
	for i, wt := range watchers {
		lost, unexpected := wt.checker.compare(expected)
		res.Lost += lost
		res.Unexpected += unexpected
		res.Duplicates += wt.checker.duplicates
		res.OutOfOrder += wt.checker.outOfOrder
		if lost+unexpected+wt.checker.duplicates+wt.checker.outOfOrder > 0 {
			failures = append(failures, fmt.Sprintf("watcher %d: %d lost, %d duplicate, %d out-of-order, %d unexpected events",
				i, lost, wt.checker.duplicates, wt.checker.outOfOrder, unexpected))
		}
		if bad := wt.badEvent.Load(); bad != nil {
			failures = append(failures, fmt.Sprintf("watcher %d: %s", i, *bad))
		}
	}
	return failures
}

// startWatchers opens n watches from the current resourceVersion of the
// run's ConfigMaps and returns once all are established. stop is idempotent.
func (e *env) startWatchers(ctx context.Context, n int, t *tracker, delivery *Recorder) ([]*watcher, func(), error) {
	list, err := e.client.CoreV1().ConfigMaps(e.namespace).List(ctx, metav1.ListOptions{LabelSelector: e.selector()})
	if err != nil {
		return nil, nil, fmt.Errorf("listing configmaps: %w", err)
	}
	watchCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	var established sync.WaitGroup // one count per watcher, released when its first watch is open
	watchers := make([]*watcher, 0, n)
	for range n {
		wt := &watcher{checker: newEventChecker()}
		watchers = append(watchers, wt)
		var opened sync.Once
		established.Add(1)
		fn := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := e.client.CoreV1().ConfigMaps(e.namespace).Watch(ctx, o)
			if err == nil {
				opened.Do(established.Done)
			}
			return w, err
		}
		wg.Go(func() {
			err := watchLoop(watchCtx, fn, e.selector(), list.ResourceVersion, func(ev watch.Event) (bool, error) {
				wt.handle(ev, delivery)
				t.wake()
				return false, nil
			})
			opened.Do(established.Done) // a watch that failed to open must not block the start
			t.fail(ignoreCanceled(err))
		})
	}
	established.Wait()
	t.mu.Lock()
	err = t.err
	t.mu.Unlock()
	if err != nil {
		stop()
		return nil, nil, err
	}
	return watchers, stop, nil
}

// handle checks one event and records its delivery latency.
func (wt *watcher) handle(ev watch.Event, delivery *Recorder) {
	now := time.Now()
	cm, ok := ev.Object.(*corev1.ConfigMap)
	if !ok || ev.Type == watch.Deleted {
		msg := fmt.Sprintf("unexpected %s event of %T", ev.Type, ev.Object)
		wt.badEvent.CompareAndSwap(nil, &msg)
		return
	}
	rv, err := parseRV(cm.ResourceVersion)
	if err != nil {
		msg := err.Error()
		wt.badEvent.CompareAndSwap(nil, &msg)
		return
	}
	wt.checker.observe(rv)
	wt.received.Add(1)
	if sent, err := strconv.ParseInt(cm.Annotations[sentAnnotation], 10, 64); err == nil {
		delivery.Record(now.Sub(time.Unix(0, sent)))
	}
}
