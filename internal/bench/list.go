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
)

// Kinds of object RunList can store.
const (
	ListKindConfigMap = "configmap"
	ListKindJob       = "job"
)

// Defaults of ListConfig.
const (
	DefaultListObjects  = 10000
	DefaultListWorkers  = 10
	DefaultListRepeat   = 10
	DefaultListPageSize = 500
)

// ListConfig configures RunList.
type ListConfig struct {
	Common
	// N is the number of objects stored before listing. Default 10000.
	N int
	// Kind is what is stored: "configmap" (default) or "job" (suspended
	// Jobs, which no controller acts on).
	Kind string
	// Workers is the number of concurrent creators while filling. Default 10.
	Workers int
	// Repeat is how many times each list is measured. Default 10.
	Repeat int
	// PageSize is the limit of each page of the paginated list. Default 500.
	PageSize int
}

// ListResult is the outcome of RunList. Every list selects the run's
// objects by label; Full is one unpaginated list, Paginated one walk over
// all pages, Page one page request.
type ListResult struct {
	Scenario         string         `json:"scenario"`
	Namespace        string         `json:"namespace"`
	ContentType      string         `json:"content_type"`
	Kind             string         `json:"kind"`
	Objects          int            `json:"objects"`
	PageSize         int            `json:"page_size"`
	Repeat           int            `json:"repeat"`
	CreatesPerSecond float64        `json:"creates_per_second"`
	Create           LatencySummary `json:"create"`
	Full             LatencySummary `json:"full"`
	Paginated        LatencySummary `json:"paginated"`
	Page             LatencySummary `json:"page"`
	PagesPerWalk     int            `json:"pages_per_walk"`
	ErrorTotal       int            `json:"error_total"`
	Errors           map[string]int `json:"errors,omitempty"`
	Failures         []string       `json:"failures,omitempty"`
	Server           *ProcStats     `json:"server,omitempty"`
}

// Summary implements Result.
func (r ListResult) Summary() string {
	return fmt.Sprintf("list: %d %ss, full list p50 %.1f ms, p99 %.1f ms, paginated (%d/page) p50 %.1f ms, p99 %.1f ms, %d errors%s",
		r.Objects, r.Kind, r.Full.P50Ms, r.Full.P99Ms, r.PageSize, r.Paginated.P50Ms, r.Paginated.P99Ms, r.ErrorTotal, r.Server.summarySuffix())
}

// lister lists one page of the run's objects and returns the names of the
// items and the continue token.
type lister func(ctx context.Context, opts metav1.ListOptions) (names []string, cont string, err error)

// RunList stores N objects, then measures full and paginated list latency
// Repeat times each, checking that every list returns exactly the N stored
// objects, each once.
func RunList(ctx context.Context, cfg ListConfig) (ListResult, error) {
	cfg, err := listDefaults(cfg)
	if err != nil {
		return ListResult{}, err
	}
	e, err := setup(ctx, cfg.Common, "list")
	if err != nil {
		return ListResult{}, fmt.Errorf("list: %w", err)
	}
	defer e.cleanup(ctx)
	stopServer := e.serverSampler(ctx)
	res, err := e.list(ctx, cfg)
	res.Server = stopServer()
	if err != nil {
		return ListResult{}, fmt.Errorf("list: %w", err)
	}
	return res, verdict("list", res.Failures)
}

// list fills the namespace and measures the lists.
func (e *env) list(ctx context.Context, cfg ListConfig) (ListResult, error) {
	res := ListResult{Scenario: "list", Namespace: e.namespace, ContentType: e.ContentType, Kind: cfg.Kind,
		PageSize: cfg.PageSize, Repeat: cfg.Repeat}
	var failures failureLog
	var creates Recorder
	var errs ErrorCounts
	start := time.Now()
	res.Objects = e.fill(ctx, cfg, &creates, &errs)
	res.CreatesPerSecond = float64(res.Objects) / time.Since(start).Seconds()
	res.Create = creates.Summary()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Objects != cfg.N {
		failures.add("stored %d of %d objects", res.Objects, cfg.N)
	}

	list := e.lister(cfg.Kind)
	var full, walks, pages Recorder
	for i := range cfg.Repeat {
		if ctx.Err() != nil {
			break
		}
		e.progress("list: measuring %d/%d", i+1, cfg.Repeat)
		e.measureFull(ctx, list, res.Objects, &full, &errs, &failures)
		res.PagesPerWalk = e.measureWalk(ctx, list, cfg.PageSize, res.Objects, &walks, &pages, &errs, &failures)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Full, res.Paginated, res.Page = full.Summary(), walks.Summary(), pages.Summary()
	res.ErrorTotal, res.Errors = errs.Total(), errs.Snapshot()
	if res.ErrorTotal > 0 {
		failures.add("%d requests failed (by code %v), last: %v", res.ErrorTotal, res.Errors, errs.Last())
	}
	res.Failures = failures.list()
	return res, nil
}

func listDefaults(cfg ListConfig) (ListConfig, error) {
	if cfg.N < 0 || cfg.Workers < 0 || cfg.Repeat < 0 || cfg.PageSize < 0 {
		return cfg, errors.New("list: n, workers, repeat and page size must not be negative")
	}
	switch cfg.Kind {
	case "":
		cfg.Kind = ListKindConfigMap
	case ListKindConfigMap, ListKindJob:
	default:
		return cfg, fmt.Errorf("list: unknown kind %q: want %q or %q", cfg.Kind, ListKindConfigMap, ListKindJob)
	}
	if cfg.N == 0 {
		cfg.N = DefaultListObjects
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultListWorkers
	}
	if cfg.Repeat == 0 {
		cfg.Repeat = DefaultListRepeat
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultListPageSize
	}
	return cfg, nil
}

// progress prints one progress line, if progress is on.
func (e *env) progress(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// fill creates cfg.N objects and returns how many were created.
func (e *env) fill(ctx context.Context, cfg ListConfig, creates *Recorder, errs *ErrorCounts) int {
	var next, done atomic.Int64
	stop := startProgress(e.Progress, e.ProgressInterval, func() string {
		return fmt.Sprintf("list: %d/%d %ss stored", done.Load(), cfg.N, cfg.Kind)
	})
	defer stop()
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(cfg.N) {
					return
				}
				t0 := time.Now()
				if err := e.createListObject(ctx, cfg.Kind, "list-"+strconv.FormatInt(i, 10)); err != nil {
					if ctx.Err() == nil {
						errs.Add(err)
					}
					continue
				}
				creates.Record(time.Since(t0))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return int(done.Load())
}

func (e *env) createListObject(ctx context.Context, kind, name string) error {
	if kind == ListKindJob {
		_, err := e.client.BatchV1().Jobs(e.namespace).Create(ctx,
			e.job(jobSpec{name: name, suspend: true, command: []string{"true"}}), metav1.CreateOptions{})
		return err
	}
	_, err := e.client.CoreV1().ConfigMaps(e.namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.namespace, Labels: e.labels()},
		Data:       map[string]string{"name": name, "payload": "skiff-bench list scenario object"},
	}, metav1.CreateOptions{})
	return err
}

// lister returns a function listing one page of the run's objects of kind.
func (e *env) lister(kind string) lister {
	if kind == ListKindJob {
		return func(ctx context.Context, o metav1.ListOptions) ([]string, string, error) {
			l, err := e.client.BatchV1().Jobs(e.namespace).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			names := make([]string, 0, len(l.Items))
			for i := range l.Items {
				names = append(names, l.Items[i].Name)
			}
			return names, l.Continue, nil
		}
	}
	return func(ctx context.Context, o metav1.ListOptions) ([]string, string, error) {
		l, err := e.client.CoreV1().ConfigMaps(e.namespace).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		names := make([]string, 0, len(l.Items))
		for i := range l.Items {
			names = append(names, l.Items[i].Name)
		}
		return names, l.Continue, nil
	}
}

// measureFull times one unpaginated list and checks its count.
func (e *env) measureFull(ctx context.Context, list lister, want int, rec *Recorder, errs *ErrorCounts, failures *failureLog) {
	t0 := time.Now()
	names, _, err := list(ctx, metav1.ListOptions{LabelSelector: e.selector()})
	if err != nil {
		errs.Add(err)
		return
	}
	rec.Record(time.Since(t0))
	if err := checkNames(names, want); err != nil {
		failures.add("full list: %v", err)
	}
}

// measureWalk times one walk over all pages and checks the union of the
// pages. It returns the number of pages.
func (e *env) measureWalk(ctx context.Context, list lister, pageSize, want int, walks, pages *Recorder, errs *ErrorCounts, failures *failureLog) int {
	var all []string
	n := 0
	t0 := time.Now()
	for cont := ""; ; n++ {
		p0 := time.Now()
		names, next, err := list(ctx, metav1.ListOptions{LabelSelector: e.selector(), Limit: int64(pageSize), Continue: cont})
		if err != nil {
			errs.Add(err)
			return n
		}
		pages.Record(time.Since(p0))
		if len(names) > pageSize {
			failures.add("paginated list: page %d has %d items, limit %d", n, len(names), pageSize)
		}
		all = append(all, names...)
		if next == "" {
			break
		}
		cont = next
	}
	walks.Record(time.Since(t0))
	if err := checkNames(all, want); err != nil {
		failures.add("paginated list: %v", err)
	}
	return n + 1
}

// checkNames verifies a list returned want distinct objects.
func checkNames(names []string, want int) error {
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, dup := seen[n]; dup {
			return fmt.Errorf("object %s returned twice", n)
		}
		seen[n] = struct{}{}
	}
	if len(names) != want {
		return fmt.Errorf("returned %d objects, want %d", len(names), want)
	}
	return nil
}
