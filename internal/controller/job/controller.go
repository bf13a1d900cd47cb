package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

const (
	// ComponentName is the event source of this controller, as upstream.
	ComponentName = "job-controller"

	// DefaultPodFailureBackoff is the first delay before a failed pod is
	// replaced; it doubles per consecutive failure.
	DefaultPodFailureBackoff = 10 * time.Second
	// DefaultMaxPodFailureBackoff caps the pod failure back-off.
	DefaultMaxPodFailureBackoff = 10 * time.Minute
	// DefaultPodWriteConcurrency bounds the pod creates, deletes and patches
	// one sync has in flight.
	DefaultPodWriteConcurrency = 64
	// DefaultSyncBatchPeriod delays syncs caused by pod events and Job status
	// updates so bursts collapse into one sync. Upstream uses 1s.
	DefaultSyncBatchPeriod = 10 * time.Millisecond

	// maxPodCreateDeletePerSync bounds the pods created or deleted per sync.
	// Upstream uses 500. Between two syncs the controller waits until its
	// informer has seen every pod it created (expectations), which under a
	// burst took ~250 ms, a quarter of the time a 1,000-Pod Job took to get
	// its Pods. Slow-start batches still bound what a failing Job sends.
	maxPodCreateDeletePerSync = 1000
	// maxUncountedPods bounds status.uncountedTerminatedPods (about 20 KB).
	maxUncountedPods = 500
	// apiBackoffBase and apiBackoffMax pace retries of failed syncs.
	apiBackoffBase = 10 * time.Millisecond
	apiBackoffMax  = time.Minute

	podControllerIndex = "skiff.job-controller/controller-uid"
)

// Config configures a Controller.
type Config struct {
	// Client reaches the API server; the controller uses nothing else.
	// Required. Give it a high QPS/burst: pod creation is bounded by
	// PodWriteConcurrency, not by client-side throttling.
	Client kubernetes.Interface
	// PodInformer and JobInformer come from the shared informer factory of
	// the composition root, which starts it. Required.
	PodInformer coreinformers.PodInformer
	JobInformer batchinformers.JobInformer
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
	// Recorder records Job events. Nil makes the controller run its own
	// broadcaster that writes events through Client while Run runs.
	Recorder record.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.WithTicker
	// PodFailureBackoff is the first replacement delay after a pod failure
	// (0 means DefaultPodFailureBackoff); MaxPodFailureBackoff caps it (0
	// means DefaultMaxPodFailureBackoff).
	PodFailureBackoff    time.Duration
	MaxPodFailureBackoff time.Duration
	// PodWriteConcurrency bounds concurrent pod writes of one sync; 0 means
	// DefaultPodWriteConcurrency.
	PodWriteConcurrency int
	// SyncBatchPeriod delays syncs triggered by pod events; 0 means
	// DefaultSyncBatchPeriod, a negative value means no delay.
	SyncBatchPeriod time.Duration
}

// Controller runs the Pods of batch/v1 Jobs and keeps Job status, as
// kube-controller-manager's job controller does.
type Controller struct {
	client      kubernetes.Interface
	logger      *slog.Logger
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster // nil when Config.Recorder was given
	clock       clock.WithTicker

	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	podBackoff, maxPodBackoff time.Duration
	writeLimit                int
	batchPeriod               time.Duration

	// queue holds Jobs to sync; orphanQueue holds pods whose tracking
	// finalizer may have to go because no live Job tracks them.
	queue       workqueue.TypedRateLimitingInterface[cache.ObjectName]
	orphanQueue workqueue.TypedRateLimitingInterface[cache.ObjectName]

	expectations    *podExpectations
	finalizerExpect *finalizerExpectations
	backoff         *backoffStore
	written         *writtenJobs
}

// NewController validates cfg, registers event handlers and a pod index on
// the informers and returns a controller ready to Run.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.PodInformer == nil || cfg.JobInformer == nil {
		return nil, errors.New("job controller: Client, PodInformer and JobInformer are required")
	}
	c := &Controller{
		client:          cfg.Client,
		logger:          cfg.Logger,
		recorder:        cfg.Recorder,
		clock:           cfg.Clock,
		podBackoff:      durationOr(cfg.PodFailureBackoff, DefaultPodFailureBackoff),
		maxPodBackoff:   durationOr(cfg.MaxPodFailureBackoff, DefaultMaxPodFailureBackoff),
		writeLimit:      cfg.PodWriteConcurrency,
		batchPeriod:     durationOr(cfg.SyncBatchPeriod, DefaultSyncBatchPeriod),
		finalizerExpect: newFinalizerExpectations(),
		backoff:         newBackoffStore(),
		written:         newWrittenJobs(),
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.logger = c.logger.With("component", ComponentName)
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.writeLimit <= 0 {
		c.writeLimit = DefaultPodWriteConcurrency
	}
	c.batchPeriod = max(c.batchPeriod, 0)
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ComponentName})
	}
	c.expectations = newPodExpectations(c.clock)
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](apiBackoffBase, apiBackoffMax)
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "job", Clock: c.clock})
	orphanLimiter := workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](apiBackoffBase, apiBackoffMax)
	c.orphanQueue = workqueue.NewTypedRateLimitingQueueWithConfig(orphanLimiter,
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "job_orphan_pod", Clock: c.clock})
	if err := c.registerInformers(cfg.PodInformer, cfg.JobInformer); err != nil {
		return nil, err
	}
	return c, nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (c *Controller) registerInformers(pods coreinformers.PodInformer, jobs batchinformers.JobInformer) error {
	podInf := pods.Informer()
	if _, exists := podInf.GetIndexer().GetIndexers()[podControllerIndex]; !exists {
		if err := podInf.AddIndexers(cache.Indexers{podControllerIndex: indexPodByController}); err != nil {
			return fmt.Errorf("adding pod index: %w", err)
		}
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return fmt.Errorf("adding Job event handler: %w", err)
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) { c.deletePod(obj, true) },
	}); err != nil {
		return fmt.Errorf("adding Pod event handler: %w", err)
	}
	c.jobLister = jobs.Lister()
	c.podLister = pods.Lister()
	c.podIndexer = podInf.GetIndexer()
	c.synced = []cache.InformerSynced{podInf.HasSynced, jobs.Informer().HasSynced}
	return nil
}

// indexPodByController indexes a pod by "<namespace>/<controller UID>", or
// "<namespace>/" when it has no controller: a Job finds its own pods and the
// orphans it may adopt without scanning the namespace.
func indexPodByController(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := controllerOf(pod); ref != nil {
		return []string{pod.Namespace + "/" + string(ref.UID)}, nil
	}
	return []string{pod.Namespace + "/"}, nil
}

// Run waits for the informer caches, then runs workers Job workers and as
// many orphan-pod workers until ctx ends; it returns after all of them
// stopped. Shutdown order: ctx cancelled → queues shut down → workers drain
// their current item → event broadcaster stops.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers <= 0 {
		return fmt.Errorf("job controller: workers must be positive, got %d", workers)
	}
	if c.broadcaster != nil {
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	defer c.orphanQueue.ShutDown()
	defer c.queue.ShutDown()
	c.logger.Info("starting job controller", "workers", workers, "podWriteConcurrency", c.writeLimit,
		"syncBatchPeriod", c.batchPeriod, "podFailureBackoff", c.podBackoff, "maxPodFailureBackoff", c.maxPodBackoff)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("job controller: waiting for caches: %w", context.Cause(ctx))
	}
	var group wait.Group
	for range workers {
		group.StartWithContext(ctx, func(ctx context.Context) {
			for c.processNextJob(ctx) {
			}
		})
		group.StartWithContext(ctx, func(ctx context.Context) {
			for c.processNextOrphan(ctx) {
			}
		})
	}
	<-ctx.Done()
	// Shutting the queues down releases the workers blocked in Get; each
	// finishes its current item before Wait returns.
	c.queue.ShutDown()
	c.orphanQueue.ShutDown()
	group.Wait()
	c.logger.Info("stopping job controller")
	return nil
}

func (c *Controller) processNextJob(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	if err == nil || errors.Is(err, errJobGone) {
		c.queue.Forget(key)
		return true
	}
	if !errors.Is(err, context.Canceled) {
		c.logger.Debug("syncing job failed; retrying", "job", key.String(), "err", err)
	}
	c.queue.AddRateLimited(key)
	return true
}

func (c *Controller) processNextOrphan(ctx context.Context) bool {
	key, quit := c.orphanQueue.Get()
	if quit {
		return false
	}
	defer c.orphanQueue.Done(key)
	if err := c.syncOrphanPod(ctx, key); err != nil {
		if !errors.Is(err, context.Canceled) {
			c.logger.Debug("releasing orphan pod failed; retrying", "pod", key.String(), "err", err)
		}
		c.orphanQueue.AddRateLimited(key)
		return true
	}
	c.orphanQueue.Forget(key)
	return true
}

// managedByOther reports a Job whose spec.managedBy names another controller.
func managedByOther(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}

// isFinished reports a Job with a Complete=True or Failed=True condition.
func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
