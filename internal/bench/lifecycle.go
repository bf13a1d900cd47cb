package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Defaults of LifecycleConfig.
const (
	DefaultLifecycleJobs    = 10
	DefaultLifecyclePods    = 10
	DefaultLifecycleWorkers = 10
)

// LifecycleConfig configures RunLifecycle.
type LifecycleConfig struct {
	Common
	// Jobs is the number of Jobs to create. Default 10.
	Jobs int
	// Pods is each Job's parallelism and completions. Default 10.
	Pods int
	// Rate is the number of Jobs created per second. 0 (default) creates
	// them as fast as Workers allow.
	Rate float64
	// Workers is the number of concurrent Job creators. Default 10.
	Workers int
	// FakeNode, when true, registers a Node and plays its kubelet for the
	// run's Pods (see FakeNode), for servers that have no node of their own.
	FakeNode bool
	// NodeName names the fake node. Default "skiff-bench-fake-<random>".
	NodeName string
	// Command is what the Pods run. Default ["true"].
	Command []string
}

// LifecycleResult is the outcome of RunLifecycle. Completion latency runs
// from the start of a Job's create request to the watch event that shows
// its Complete condition.
type LifecycleResult struct {
	Scenario       string         `json:"scenario"`
	Namespace      string         `json:"namespace"`
	ContentType    string         `json:"content_type"`
	Jobs           int            `json:"jobs"`
	PodsPerJob     int            `json:"pods_per_job"`
	Rate           float64        `json:"rate"`
	FakeNode       bool           `json:"fake_node"`
	Completed      int            `json:"completed"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	JobsPerSecond  float64        `json:"jobs_per_second"`
	PodsPerSecond  float64        `json:"pods_per_second"`
	Create         LatencySummary `json:"create"`
	Completion     LatencySummary `json:"completion"`
	Failures       []string       `json:"failures,omitempty"`
	Server         *ProcStats     `json:"server,omitempty"`
}

// Summary implements Result.
func (r LifecycleResult) Summary() string {
	return fmt.Sprintf("lifecycle: %.1f jobs/s, %.1f pods/s, complete p50 %.1f ms, p99 %.1f ms, %d/%d jobs complete%s",
		r.JobsPerSecond, r.PodsPerSecond, r.Completion.P50Ms, r.Completion.P99Ms, r.Completed, r.Jobs, r.Server.summarySuffix())
}

// lifecycleState is what the job watch knows. Guarded by tracker.mu.
type lifecycleState struct {
	tracker
	pods      int32
	started   map[string]time.Time // job name -> create request start
	completed map[string]time.Time // job name -> Complete seen
	failures  failureLog
}

func (s *lifecycleState) onJob(ev watch.Event) (bool, error) {
	job, ok := ev.Object.(*batchv1.Job)
	if !ok {
		return false, fmt.Errorf("job watch: unexpected object %T", ev.Object)
	}
	if ev.Type == watch.Deleted {
		s.failures.add("job %s was deleted during the run", job.Name)
		return false, nil
	}
	now := time.Now()
	s.update(func() {
		if _, done := s.completed[job.Name]; done {
			return
		}
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				s.completed[job.Name] = now
				if job.Status.Succeeded != s.pods {
					s.failures.add("job %s complete with %d succeeded pods, want %d", job.Name, job.Status.Succeeded, s.pods)
				}
			case batchv1.JobFailed:
				s.completed[job.Name] = now
				s.failures.add("job %s failed: %s: %s", job.Name, c.Reason, c.Message)
			}
		}
	})
	return false, nil
}

// RunLifecycle creates Jobs×Pods at the given rate and measures the time
// from each Job's creation to its Complete condition, plus overall Jobs/s
// and Pods/s. Every Job must complete with exactly Pods succeeded Pods
// within Common.Timeout after the last create.
func RunLifecycle(ctx context.Context, cfg LifecycleConfig) (LifecycleResult, error) {
	cfg, err := lifecycleDefaults(cfg)
	if err != nil {
		return LifecycleResult{}, err
	}
	e, err := setup(ctx, cfg.Common, "lifecycle")
	if err != nil {
		return LifecycleResult{}, fmt.Errorf("lifecycle: %w", err)
	}
	defer e.cleanup(ctx)
	var mutate func(*corev1.PodSpec)
	if cfg.FakeNode {
		stopNode, m, err := e.startFakeNode(ctx, cfg.NodeName)
		if err != nil {
			return LifecycleResult{}, fmt.Errorf("lifecycle: %w", err)
		}
		defer stopNode()
		mutate = m
	}
	e.waitDefaultServiceAccount(ctx)

	s := &lifecycleState{tracker: newTracker(), pods: int32(cfg.Pods),
		started: map[string]time.Time{}, completed: map[string]time.Time{}}
	list, err := e.client.BatchV1().Jobs(e.namespace).List(ctx, metav1.ListOptions{LabelSelector: e.selector()})
	if err != nil {
		return LifecycleResult{}, fmt.Errorf("lifecycle: listing jobs: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatch()
	jobWatch := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return e.client.BatchV1().Jobs(e.namespace).Watch(ctx, o)
	}
	wg.Go(func() {
		s.fail(ignoreCanceled(watchLoop(watchCtx, jobWatch, e.selector(), list.ResourceVersion, s.onJob)))
	})

	stopServer := e.serverSampler(ctx)
	res, err := e.lifecycle(ctx, cfg, s, mutate)
	res.Server = stopServer()
	if err != nil {
		return LifecycleResult{}, fmt.Errorf("lifecycle: %w", err)
	}
	res.Failures = s.failures.list()
	return res, verdict("lifecycle", res.Failures)
}

func lifecycleDefaults(cfg LifecycleConfig) (LifecycleConfig, error) {
	if cfg.Jobs < 0 || cfg.Pods < 0 || cfg.Rate < 0 || cfg.Workers < 0 {
		return cfg, errors.New("lifecycle: jobs, pods, rate and workers must not be negative")
	}
	if cfg.Jobs == 0 {
		cfg.Jobs = DefaultLifecycleJobs
	}
	if cfg.Pods == 0 {
		cfg.Pods = DefaultLifecyclePods
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultLifecycleWorkers
	}
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"true"}
	}
	return cfg, nil
}

// startFakeNode runs a FakeNode for the run's Pods until the returned stop
// function is called, and returns the pod template mutator pinning Pods to it.
func (e *env) startFakeNode(ctx context.Context, name string) (stop func(), mutate func(*corev1.PodSpec), err error) {
	if name == "" {
		name = "skiff-bench-fake-" + e.runID
	}
	node, err := NewFakeNode(FakeNodeConfig{Client: e.client, NodeName: name, Namespace: e.namespace,
		LabelSelector: e.selector(), Workers: 8, Logger: e.log})
	if err != nil {
		return nil, nil, err
	}
	nodeCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1) // buffered: Run's goroutine must never block on exit
	go func() { errc <- node.Run(nodeCtx) }()
	stop = func() {
		cancel()
		if err := <-errc; err != nil {
			e.log.Warn("fake node stopped with an error", "err", err)
		}
	}
	select {
	case <-node.Ready():
		return stop, node.PodSpecMutator(), nil
	case err := <-errc:
		cancel()
		return nil, nil, fmt.Errorf("starting fake node: %w", err)
	}
}

// lifecycle creates the Jobs and waits for all of them to finish.
func (e *env) lifecycle(ctx context.Context, cfg LifecycleConfig, s *lifecycleState, mutate func(*corev1.PodSpec)) (LifecycleResult, error) {
	res := LifecycleResult{Scenario: "lifecycle", Namespace: e.namespace, ContentType: e.ContentType,
		Jobs: cfg.Jobs, PodsPerJob: cfg.Pods, Rate: cfg.Rate, FakeNode: cfg.FakeNode}
	var created atomic.Int64
	stopProgress := startProgress(e.Progress, e.ProgressInterval, func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Sprintf("lifecycle: %d/%d jobs created, %d finished", created.Load(), cfg.Jobs, len(s.completed))
	})
	defer stopProgress()

	start := time.Now()
	var creates Recorder
	e.createJobs(ctx, cfg, s, mutate, &creates, &created)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	ok, err := s.wait(ctx, e.Timeout, func() bool { return len(s.completed) >= int(created.Load()) })
	if err != nil {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.failures.add("only %d of %d jobs finished within %s", len(s.completed), created.Load(), e.Timeout)
	}
	var latencies []time.Duration
	last := start
	for name, at := range s.completed {
		latencies = append(latencies, at.Sub(s.started[name]))
		if at.After(last) {
			last = at
		}
	}
	res.Completed = len(s.completed)
	res.Create = creates.Summary()
	res.Completion = Summarize(latencies)
	elapsed := last.Sub(start)
	res.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		res.JobsPerSecond = float64(res.Completed) / elapsed.Seconds()
		res.PodsPerSecond = float64(res.Completed*cfg.Pods) / elapsed.Seconds()
	}
	return res, nil
}

// createJobs creates cfg.Jobs Jobs with cfg.Workers workers, paced at
// cfg.Rate. Failed creates are verification failures.
func (e *env) createJobs(ctx context.Context, cfg LifecycleConfig, s *lifecycleState, mutate func(*corev1.PodSpec), creates *Recorder, created *atomic.Int64) {
	var next atomic.Int64
	p := pacer{start: time.Now(), rate: cfg.Rate}
	var errs ErrorCounts
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Jobs || !p.wait(ctx, i) {
					return
				}
				name := "lifecycle-" + strconv.Itoa(i)
				job := e.job(jobSpec{name: name, parallelism: int32(cfg.Pods), command: cfg.Command, mutate: mutate})
				t0 := time.Now()
				s.update(func() { s.started[name] = t0 })
				if _, err := e.client.BatchV1().Jobs(e.namespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
					errs.Add(err)
					continue
				}
				creates.Record(time.Since(t0))
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if n := errs.Total(); n > 0 {
		s.failures.add("%d job creates failed (by code %v), last: %v", n, errs.Snapshot(), errs.Last())
	}
}
