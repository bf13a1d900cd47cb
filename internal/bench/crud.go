package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of CRUDConfig.
const (
	DefaultCRUDWorkers = 10
	DefaultCRUDPairs   = 1000
)

// CRUDConfig configures RunCRUD.
type CRUDConfig struct {
	Common
	// Workers is the number of concurrent workers, each creating then
	// deleting one suspended Job at a time. Default 10.
	Workers int
	// N is the number of create+delete pairs in total. When both N and
	// Duration are 0, N defaults to 1000. When both are set, the run stops
	// at whichever comes first.
	N int
	// Duration, when > 0, stops starting new pairs after this long. Pairs in
	// flight finish.
	Duration time.Duration
}

// CRUDResult is the outcome of RunCRUD.
type CRUDResult struct {
	Scenario       string         `json:"scenario"`
	Namespace      string         `json:"namespace"`
	ContentType    string         `json:"content_type"`
	Workers        int            `json:"workers"`
	Pairs          int            `json:"pairs"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	OpsPerSecond   float64        `json:"ops_per_second"`
	Create         LatencySummary `json:"create"`
	Delete         LatencySummary `json:"delete"`
	ErrorTotal     int            `json:"error_total"`
	Errors         map[string]int `json:"errors,omitempty"`
	Failures       []string       `json:"failures,omitempty"`
	Server         *ProcStats     `json:"server,omitempty"`
}

// Summary implements Result.
func (r CRUDResult) Summary() string {
	return fmt.Sprintf("crud: %.0f ops/s, create p99 %.1f ms, delete p99 %.1f ms, %d errors%s",
		r.OpsPerSecond, r.Create.P99Ms, r.Delete.P99Ms, r.ErrorTotal, r.Server.summarySuffix())
}

// crudRun is the shared state of one crud run.
type crudRun struct {
	e        *env
	next     atomic.Int64 // index of the next pair to start
	done     atomic.Int64 // pairs completed
	creates  Recorder
	deletes  Recorder
	errs     ErrorCounts
	failures failureLog
}

// RunCRUD has Workers workers create and delete suspended Jobs, measures
// ops/s and per-verb latency, and verifies that every create returned a
// stored object that the matching delete found (by UID precondition) and
// that no Job is left at the end. A non-nil *VerificationError comes with a
// complete result.
func RunCRUD(ctx context.Context, cfg CRUDConfig) (CRUDResult, error) {
	if cfg.Workers < 0 || cfg.N < 0 || cfg.Duration < 0 {
		return CRUDResult{}, errors.New("crud: workers, n and duration must not be negative")
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultCRUDWorkers
	}
	if cfg.N == 0 && cfg.Duration == 0 {
		cfg.N = DefaultCRUDPairs
	}
	e, err := setup(ctx, cfg.Common, "crud")
	if err != nil {
		return CRUDResult{}, fmt.Errorf("crud: %w", err)
	}
	defer e.cleanup(ctx)
	r := &crudRun{e: e}

	stopServer := e.serverSampler(ctx)
	start := time.Now()
	stopProgress := startProgress(e.Progress, e.ProgressInterval, func() string {
		ops := float64(r.creates.Count()+r.deletes.Count()) / time.Since(start).Seconds()
		return fmt.Sprintf("crud: %d pairs, %.0f ops/s, %d errors", r.done.Load(), ops, r.errs.Total())
	})
	r.runWorkers(ctx, cfg)
	elapsed := time.Since(start)
	stopProgress()
	server := stopServer()
	if err := ctx.Err(); err != nil {
		return CRUDResult{}, fmt.Errorf("crud: %w", err)
	}
	r.verifyEmpty(ctx)

	res := CRUDResult{
		Scenario:       "crud",
		Namespace:      e.namespace,
		ContentType:    e.ContentType,
		Workers:        cfg.Workers,
		Pairs:          int(r.done.Load()),
		ElapsedSeconds: elapsed.Seconds(),
		OpsPerSecond:   float64(r.creates.Count()+r.deletes.Count()) / elapsed.Seconds(),
		Create:         r.creates.Summary(),
		Delete:         r.deletes.Summary(),
		ErrorTotal:     r.errs.Total(),
		Errors:         r.errs.Snapshot(),
		Server:         server,
	}
	if res.ErrorTotal > 0 {
		r.failures.add("%d requests failed (by code %v), last: %v", res.ErrorTotal, res.Errors, r.errs.Last())
	}
	res.Failures = r.failures.list()
	return res, verdict("crud", res.Failures)
}

// runWorkers runs cfg.Workers workers until N pairs or Duration is reached.
// Requests use ctx, not the duration-bounded context, so pairs in flight
// complete and leave nothing behind.
func (r *crudRun) runWorkers(ctx context.Context, cfg CRUDConfig) {
	startCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for startCtx.Err() == nil {
				i := r.next.Add(1) - 1
				if cfg.N > 0 && i >= int64(cfg.N) {
					return
				}
				r.pair(ctx, "crud-"+strconv.FormatInt(i, 10))
			}
		})
	}
	wg.Wait()
}

// pair creates one Job and deletes it, recording latencies and checks.
func (r *crudRun) pair(ctx context.Context, name string) {
	jobs := r.e.client.BatchV1().Jobs(r.e.namespace)
	t0 := time.Now()
	created, err := jobs.Create(ctx, r.e.job(jobSpec{name: name, suspend: true, command: []string{"true"}}), metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			r.errs.Add(err)
		}
		return
	}
	r.creates.Record(time.Since(t0))
	if created.Name != name || created.UID == "" || created.ResourceVersion == "" {
		r.failures.add("create of job %s returned name %q uid %q resourceVersion %q", name, created.Name, created.UID, created.ResourceVersion)
	}
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if created.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &created.UID}
	}
	t1 := time.Now()
	err = jobs.Delete(ctx, name, opts)
	switch {
	case err == nil:
		r.deletes.Record(time.Since(t1))
		r.done.Add(1)
	case apierrors.IsNotFound(err):
		r.failures.add("job %s (uid %s) was created but not found on delete", name, created.UID)
	case ctx.Err() == nil:
		r.errs.Add(err)
	}
}

// verifyEmpty checks, polling with a deadline, that no Job of the run is
// left: every delete must really have removed its object.
func (r *crudRun) verifyEmpty(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.e.Timeout)
	defer cancel()
	remaining := -1
	for {
		list, err := r.e.client.BatchV1().Jobs(r.e.namespace).List(ctx, metav1.ListOptions{LabelSelector: r.e.selector()})
		if err == nil {
			remaining = len(list.Items)
			if remaining == 0 {
				return
			}
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			if err != nil {
				r.failures.add("listing jobs after the run: %v", err)
				return
			}
			r.failures.add("%d jobs remain after every pair was deleted", remaining)
			return
		}
	}
}
