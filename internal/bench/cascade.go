package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Defaults of CascadeConfig.
const (
	DefaultCascadePods     = 100
	DefaultFirstPodTimeout = 30 * time.Second
)

// CascadeConfig configures RunCascade.
type CascadeConfig struct {
	Common
	// Pods is the Job's parallelism and completions: the number of Pods the
	// server's Job controller must create. Default 100.
	Pods int
	// Propagation is the propagationPolicy of the DELETE: Background
	// (default when empty), Foreground or Orphan.
	Propagation metav1.DeletionPropagation
	// Command is what the Pods run. Default ["sleep", "3600"], so Pods stay
	// alive until deleted where a node runs them.
	Command []string
	// FirstPodTimeout fails the run early when not a single Pod appears in
	// this long (no Job controller). Default 30s. All Pods must appear
	// within Common.Timeout.
	FirstPodTimeout time.Duration
	// WaitRunning delays the DELETE until every Pod is Running, so the delete
	// phase measures deletion alone, not the tail of scheduling and starting
	// the Pods. Needs nodes that run them.
	WaitRunning bool
}

// CascadeResult is the outcome of RunCascade. Times are from the start of
// the Job's create request (PodsCreatedSeconds) or of the DELETE request.
type CascadeResult struct {
	Scenario           string     `json:"scenario"`
	Namespace          string     `json:"namespace"`
	ContentType        string     `json:"content_type"`
	Pods               int        `json:"pods"`
	Propagation        string     `json:"propagation"`
	PodsCreatedSeconds float64    `json:"pods_created_seconds"`
	PodsRunningSeconds float64    `json:"pods_running_seconds,omitempty"`
	DeleteRequestMs    float64    `json:"delete_request_ms"`
	JobGoneSeconds     float64    `json:"job_gone_seconds"`
	PodsGoneSeconds    float64    `json:"pods_gone_seconds"`
	PodsSeen           int        `json:"pods_seen"`
	Failures           []string   `json:"failures,omitempty"`
	Server             *ProcStats `json:"server,omitempty"`
}

// Summary implements Result.
func (r CascadeResult) Summary() string {
	what := "pods gone"
	if r.Propagation == string(metav1.DeletePropagationOrphan) {
		what = "pods orphaned"
	}
	running := ""
	if r.PodsRunningSeconds > 0 {
		running = fmt.Sprintf(", all running in %.2f s", r.PodsRunningSeconds)
	}
	return fmt.Sprintf("cascade: %s delete of %d pods: %s in %.2f s, job gone in %.2f s, pods created in %.2f s%s%s",
		r.Propagation, r.Pods, what, r.PodsGoneSeconds, r.JobGoneSeconds, r.PodsCreatedSeconds, running, r.Server.summarySuffix())
}

// cascadeState is what the pod and job watches know. Guarded by tracker.mu.
type cascadeState struct {
	tracker
	jobUID     types.UID
	jobGoneAt  time.Time
	pods       map[types.UID]*podSeen
	allSeenAt  time.Time // when the P-th pod appeared
	running    int       // pods seen in phase Running
	allRunAt   time.Time // when the P-th pod ran
	want       int
	orphan     bool      // the delete phase ends when pods lose their owner
	deleting   bool      // the DELETE was sent
	podsGoneAt time.Time // when the last pod disappeared or was orphaned
}

type podSeen struct {
	name    string
	owners  []types.UID
	gone    bool
	running bool // was seen Running once
}

// remaining counts the pods that still block the delete phase.
func (s *cascadeState) remaining() int {
	n := 0
	for _, p := range s.pods {
		switch {
		case p.gone:
		case !s.orphan:
			n++
		case s.jobUID == "":
			n++ // cannot be orphaned before we know the owner
		default:
			for _, o := range p.owners {
				if o == s.jobUID {
					n++
					break
				}
			}
		}
	}
	return n
}

func (s *cascadeState) onPod(ev watch.Event) (bool, error) {
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("pod watch: unexpected object %T", ev.Object)
	}
	s.update(func() {
		p := s.pods[pod.UID]
		if p == nil {
			p = &podSeen{name: pod.Name}
			s.pods[pod.UID] = p
			if len(s.pods) == s.want {
				s.allSeenAt = time.Now()
			}
		}
		p.owners = p.owners[:0]
		for _, o := range pod.OwnerReferences {
			p.owners = append(p.owners, o.UID)
		}
		p.gone = p.gone || ev.Type == watch.Deleted
		if !p.running && pod.Status.Phase == corev1.PodRunning {
			p.running = true
			if s.running++; s.running == s.want {
				s.allRunAt = time.Now()
			}
		}
		if s.deleting && s.podsGoneAt.IsZero() && s.remaining() == 0 {
			s.podsGoneAt = time.Now()
		}
	})
	return false, nil
}

func (s *cascadeState) onJob(ev watch.Event) (bool, error) {
	job, ok := ev.Object.(*batchv1.Job)
	if !ok {
		return false, fmt.Errorf("job watch: unexpected object %T", ev.Object)
	}
	done := false
	s.update(func() {
		if ev.Type == watch.Deleted && job.UID == s.jobUID {
			s.jobGoneAt = time.Now()
			done = true
		}
	})
	return done, nil
}

// RunCascade creates a Job with Pods pods, times until the server's Job
// controller has created all of them, then deletes the Job with the given
// propagation and times until the Job and every Pod are gone (Orphan: until
// the Job is gone and no Pod references it), all from watches. It fails on a
// wrong pod count or a timeout.
func RunCascade(ctx context.Context, cfg CascadeConfig) (CascadeResult, error) {
	cfg, err := cascadeDefaults(cfg)
	if err != nil {
		return CascadeResult{}, err
	}
	e, err := setup(ctx, cfg.Common, "cascade")
	if err != nil {
		return CascadeResult{}, fmt.Errorf("cascade: %w", err)
	}
	defer e.cleanup(ctx)
	e.waitDefaultServiceAccount(ctx)

	s := &cascadeState{tracker: newTracker(), pods: map[types.UID]*podSeen{}, want: cfg.Pods,
		orphan: cfg.Propagation == metav1.DeletePropagationOrphan}
	watchCtx, stopWatches := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatches()
	if err := e.startCascadeWatches(watchCtx, &wg, s); err != nil {
		return CascadeResult{}, fmt.Errorf("cascade: %w", err)
	}

	stopServer := e.serverSampler(ctx)
	stopProgress := startProgress(e.Progress, e.ProgressInterval, func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Sprintf("cascade: %d/%d pods seen, %d remaining", len(s.pods), s.want, s.remaining())
	})
	res, failures, err := e.cascade(ctx, cfg, s)
	stopProgress()
	res.Server = stopServer()
	if err != nil {
		return CascadeResult{}, fmt.Errorf("cascade: %w", err)
	}
	res.Failures = failures
	return res, verdict("cascade", failures)
}

func cascadeDefaults(cfg CascadeConfig) (CascadeConfig, error) {
	if cfg.Pods < 0 {
		return cfg, errors.New("cascade: pods must not be negative")
	}
	if cfg.Pods == 0 {
		cfg.Pods = DefaultCascadePods
	}
	switch cfg.Propagation {
	case "":
		cfg.Propagation = metav1.DeletePropagationBackground
	case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
	default:
		return cfg, fmt.Errorf("cascade: unknown propagation %q: want Background, Foreground or Orphan", cfg.Propagation)
	}
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"sleep", "3600"}
	}
	if cfg.FirstPodTimeout <= 0 {
		cfg.FirstPodTimeout = DefaultFirstPodTimeout
	}
	return cfg, nil
}

// startCascadeWatches lists pods and jobs of the run to learn the current
// resourceVersions, then watches both from there.
func (e *env) startCascadeWatches(ctx context.Context, wg *sync.WaitGroup, s *cascadeState) error {
	opts := metav1.ListOptions{LabelSelector: e.selector()}
	pods, err := e.client.CoreV1().Pods(e.namespace).List(ctx, opts)
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	jobs, err := e.client.BatchV1().Jobs(e.namespace).List(ctx, opts)
	if err != nil {
		return fmt.Errorf("listing jobs: %w", err)
	}
	podWatch := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return e.client.CoreV1().Pods(e.namespace).Watch(ctx, o)
	}
	jobWatch := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return e.client.BatchV1().Jobs(e.namespace).Watch(ctx, o)
	}
	wg.Go(func() { s.fail(ignoreCanceled(watchLoop(ctx, podWatch, e.selector(), pods.ResourceVersion, s.onPod))) })
	wg.Go(func() { s.fail(ignoreCanceled(watchLoop(ctx, jobWatch, e.selector(), jobs.ResourceVersion, s.onJob))) })
	return nil
}

// cascade runs the two timed phases. It returns an error only when the run
// could not be carried out; verification failures come back as failures.
func (e *env) cascade(ctx context.Context, cfg CascadeConfig, s *cascadeState) (CascadeResult, []string, error) {
	res := CascadeResult{Scenario: "cascade", Namespace: e.namespace, ContentType: e.ContentType,
		Pods: cfg.Pods, Propagation: string(cfg.Propagation)}
	// Pods must still run when the Job is deleted: on Skiff's fake runtime,
	// which runs no command, the annotation keeps them running for an hour;
	// other servers ignore it.
	job := e.job(jobSpec{name: "cascade", parallelism: int32(cfg.Pods), command: cfg.Command,
		annotations: map[string]string{crt.AnnotationFakeDuration: "1h"}})
	created := time.Now()
	got, err := e.client.BatchV1().Jobs(e.namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return res, nil, fmt.Errorf("creating job: %w", err)
	}
	s.update(func() { s.jobUID = got.UID })
	if failures, err := e.waitPods(ctx, cfg, s); err != nil || len(failures) > 0 {
		return res, failures, err
	}
	if cfg.WaitRunning {
		if failures, err := e.waitRunning(ctx, cfg, s); err != nil || len(failures) > 0 {
			return res, failures, err
		}
	}
	s.mu.Lock()
	res.PodsCreatedSeconds = s.allSeenAt.Sub(created).Seconds()
	if cfg.WaitRunning {
		res.PodsRunningSeconds = s.allRunAt.Sub(created).Seconds()
	}
	s.mu.Unlock()

	s.update(func() { s.deleting = true })
	deleted := time.Now()
	err = e.client.BatchV1().Jobs(e.namespace).Delete(ctx, got.Name, metav1.DeleteOptions{
		PropagationPolicy: &cfg.Propagation,
		Preconditions:     &metav1.Preconditions{UID: &got.UID},
	})
	res.DeleteRequestMs = ms(time.Since(deleted))
	if err != nil {
		return res, nil, fmt.Errorf("deleting job: %w", err)
	}
	ok, err := s.wait(ctx, e.Timeout, func() bool {
		if s.podsGoneAt.IsZero() && s.remaining() == 0 {
			s.podsGoneAt = time.Now()
		}
		return !s.jobGoneAt.IsZero() && !s.podsGoneAt.IsZero()
	})
	if err != nil {
		return res, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res.PodsSeen = len(s.pods)
	var failures []string
	if !ok {
		failures = append(failures, fmt.Sprintf("after %s: job gone %t, %d of %d pods still present or owned",
			e.Timeout, !s.jobGoneAt.IsZero(), s.remaining(), len(s.pods)))
		return res, failures, nil
	}
	res.JobGoneSeconds = s.jobGoneAt.Sub(deleted).Seconds()
	res.PodsGoneSeconds = s.podsGoneAt.Sub(deleted).Seconds()
	if len(s.pods) != cfg.Pods {
		failures = append(failures, fmt.Sprintf("saw %d distinct pods, want exactly %d", len(s.pods), cfg.Pods))
	}
	return res, failures, nil
}

// waitPods waits until the Job controller has created all pods.
func (e *env) waitPods(ctx context.Context, cfg CascadeConfig, s *cascadeState) ([]string, error) {
	start := time.Now()
	ok, err := s.wait(ctx, min(cfg.FirstPodTimeout, e.Timeout), func() bool { return len(s.pods) > 0 })
	if err != nil {
		return nil, err
	}
	if !ok {
		return []string{fmt.Sprintf("no pod of job %s/cascade appeared within %s: is the server's Job controller running?",
			e.namespace, time.Since(start).Round(time.Second))}, nil
	}
	ok, err = s.wait(ctx, e.Timeout-time.Since(start), func() bool { return len(s.pods) >= cfg.Pods })
	if err != nil {
		return nil, err
	}
	if !ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return []string{fmt.Sprintf("only %d of %d pods of job %s/cascade appeared within %s",
			len(s.pods), cfg.Pods, e.namespace, e.Timeout)}, nil
	}
	return nil, nil
}

// waitRunning waits until every pod has been seen Running.
func (e *env) waitRunning(ctx context.Context, cfg CascadeConfig, s *cascadeState) ([]string, error) {
	ok, err := s.wait(ctx, e.Timeout, func() bool { return s.running >= cfg.Pods })
	if err != nil || ok {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return []string{fmt.Sprintf("only %d of %d pods of job %s/cascade ran within %s: does a node run them?",
		s.running, cfg.Pods, e.namespace, e.Timeout)}, nil
}

// ignoreCanceled maps context cancellation, the normal end of a watch, to nil.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
