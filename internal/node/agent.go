package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/informer"
	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// KubeletVersion is what the agent reports as nodeInfo.kubeletVersion.
const KubeletVersion = "v1.37.2-skiff"

// Config configures New. Zero values mean the documented defaults.
type Config struct {
	// Client talks to the API server; the agent uses nothing else. Required.
	Client kubernetes.Interface
	// Runtime runs the containers. Required.
	Runtime crt.Runtime
	// NodeName is the Node to register; default the lower-cased host name.
	NodeName string
	// NodeIP is the node's InternalIP and every pod's hostIP and podIP
	// (containers share the host's network). Default "127.0.0.1".
	NodeIP string
	// Labels are added to the Node's labels (the kubernetes.io/* ones are
	// always set).
	Labels map[string]string
	// Capacity overrides entries of the detected capacity (cpu, memory from
	// the host; pods 110). Allocatable equals capacity.
	Capacity corev1.ResourceList
	// RuntimeVersion is nodeInfo.containerRuntimeVersion; default
	// "skiff-process://<version>" ("skiff-fake://..." for the fake runtime).
	RuntimeVersion string
	// Logger; nil discards.
	Logger *slog.Logger
	// Clock for timestamps, deadlines and back-off; default the real clock.
	Clock clock.WithTickerAndDelayedExecution
	// Resync is the pod informer's resync period; 0 disables resyncs.
	Resync time.Duration
	// EventClient writes the agent's events; nil means Client. The kubelet
	// gives its events their own client, limited by --event-qps and
	// --event-burst (50 and 100).
	EventClient kubernetes.Interface
	// NewInformerFactory makes the agent's informer factory. Nil means
	// client-go's, over Client; the server passes one that reads its watch
	// cache.
	NewInformerFactory informer.FactoryFunc
	// BackoffBase is the first crash-loop back-off (doubling per restart up
	// to BackoffMax), as the kubelet's 10s and 5m. Tests set it small.
	BackoffBase, BackoffMax time.Duration
	// LeaseDuration (default 40s) and LeaseRenewInterval (default 10s) of the
	// node's Lease in kube-node-lease.
	LeaseDuration, LeaseRenewInterval time.Duration
	// APIServerHost and APIServerPort are where pods reach the API: the
	// kubernetes Service's variables (KUBERNETES_SERVICE_HOST...) carry them.
	// Empty keeps the Service's cluster IP.
	APIServerHost string
	APIServerPort int
	// NodeStatusInterval is how often node status is re-posted (default 1m).
	NodeStatusInterval time.Duration
	// StatusWorkers write pod status in parallel (default 4). The
	// kubelet's status manager writes from a single goroutine; a few
	// writers keep a burst of starts moving, while many would crowd out
	// the controllers when a Job's pods are deleted: the workqueue then
	// folds a pod's last changes into one write, or drops it once the
	// informer has seen the pod go, instead of racing the deletion.
	StatusWorkers int
	// ShutdownGracePeriod bounds each pod's grace period when the agent
	// stops and kills its pods (default 10s).
	ShutdownGracePeriod time.Duration
}

// Agent is the node agent: it registers a Node, keeps its Lease, runs the
// Pods bound to it through a Runtime and reports their status.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	client kubernetes.Interface
	rt     crt.Runtime
	clock  clock.WithTickerAndDelayedExecution
	// prober runs the containers' probe handlers (probe_handlers.go).
	prober *prober

	factory   informers.SharedInformerFactory
	podLister corelisters.PodLister
	podSynced cache.InformerSynced
	// services feed the containers' service variables; their factory has
	// no spec.nodeName filter.
	serviceFactory informers.SharedInformerFactory
	serviceLister  corelisters.ServiceLister
	servicesSynced cache.InformerSynced
	// podQueue holds pods whose desired state changed; statusQueue pods
	// whose status must be (re)written. Both dedupe, which batches writes.
	podQueue    workqueue.TypedRateLimitingInterface[cache.ObjectName]
	statusQueue workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	// mu guards workers and lost, which the pod sync, the status workers
	// and shutdown share.
	mu      sync.Mutex
	workers map[cache.ObjectName]*podWorker
	// lost marks pods failed by the start-up reconciliation, so they are
	// not started again while the informer still shows them running.
	lost map[types.UID]bool

	// killCtx bounds runtime calls of pod workers; it is cancelled only
	// after every worker has finished (shutdown kills pods itself).
	killCtx    context.Context
	killCancel context.CancelFunc
	// podWG tracks pod workers and sandbox cleanups.
	podWG sync.WaitGroup

	ready     chan struct{}
	readyOnce sync.Once
}

// New validates cfg and builds an Agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.Client == nil {
		return nil, errors.New("node agent: Client is required")
	}
	if cfg.Runtime == nil {
		return nil, errors.New("node agent: Runtime is required")
	}
	cfg = withDefaults(cfg)
	if cfg.NodeName == "" {
		return nil, errors.New("node agent: NodeName is empty and the host name is unknown")
	}
	a := &Agent{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, clock: cfg.Clock, prober: newProber(cfg.Runtime),
		logger:  cfg.Logger.With("component", "node-agent", "node", cfg.NodeName),
		workers: map[cache.ObjectName]*podWorker{}, lost: map[types.UID]bool{},
		ready: make(chan struct{}),
	}
	newFactory := cfg.NewInformerFactory
	if newFactory == nil {
		newFactory = informer.NewFactory
	}
	a.factory = newFactory(cfg.Client, cfg.Resync, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	})
	a.serviceFactory = newFactory(cfg.Client, cfg.Resync, nil)
	serviceInformer := a.serviceFactory.Core().V1().Services()
	a.serviceLister, a.servicesSynced = serviceInformer.Lister(), serviceInformer.Informer().HasSynced
	podInformer := a.factory.Core().V1().Pods()
	a.podLister = podInformer.Lister()
	a.podSynced = podInformer.Informer().HasSynced
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.enqueuePod,
		UpdateFunc: func(_, obj any) { a.enqueuePod(obj) },
		DeleteFunc: a.enqueuePod,
	}); err != nil {
		return nil, fmt.Errorf("node agent: pod informer: %w", err)
	}
	a.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "node-agent-pods"})
	a.statusQueue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "node-agent-status"})
	a.broadcaster = record.NewBroadcaster()
	a.recorder = a.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	return a, nil
}

func withDefaults(cfg Config) Config {
	if cfg.NodeName == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.NodeName = strings.ToLower(h)
		}
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.RuntimeVersion == "" {
		cfg.RuntimeVersion = "skiff-process://" + KubeletVersion
		if _, ok := cfg.Runtime.(*crt.Fake); ok {
			cfg.RuntimeVersion = "skiff-fake://" + KubeletVersion
		}
	}
	setDuration(&cfg.BackoffBase, 10*time.Second)
	setDuration(&cfg.BackoffMax, 5*time.Minute)
	setDuration(&cfg.LeaseDuration, 40*time.Second)
	setDuration(&cfg.LeaseRenewInterval, 10*time.Second)
	setDuration(&cfg.NodeStatusInterval, time.Minute)
	setDuration(&cfg.ShutdownGracePeriod, 10*time.Second)
	if cfg.StatusWorkers <= 0 {
		cfg.StatusWorkers = 4
	}
	return cfg
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// NodeName is the name of the Node the agent registers.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Ready is closed once the Node is registered, the pod cache is synced and
// the start-up reconciliation is done.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run registers the node and runs pods until ctx ends, then shuts down:
//
//  1. stop taking new work (informers, queues);
//  2. stop every running pod: SIGTERM, then SIGKILL after its grace period,
//     bounded by ShutdownGracePeriod. Stopping `skiff serve` stops the pods
//     it runs; their status is not written then (the API is going away):
//     the next start's reconciliation marks them Failed;
//  3. wait for all pod goroutines, then return.
//
// It returns nil after a clean shutdown, or the error that prevented start.
func (a *Agent) Run(ctx context.Context) error {
	a.killCtx, a.killCancel = context.WithCancel(context.Background())
	defer a.killCancel()
	events := a.cfg.EventClient
	if events == nil {
		events = a.client
	}
	a.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	defer a.broadcaster.Shutdown()
	defer a.podQueue.ShutDown()
	defer a.statusQueue.ShutDown()

	if err := a.registerWithRetry(ctx); err != nil {
		return err
	}
	a.factory.Start(ctx.Done())
	defer a.factory.Shutdown()
	a.serviceFactory.Start(ctx.Done())
	defer a.serviceFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), a.podSynced, a.servicesSynced) {
		return fmt.Errorf("node agent: waiting for the pod cache: %w", ctx.Err())
	}
	if err := a.reconcile(ctx); err != nil {
		return err
	}
	var wg wait.Group
	wg.StartWithContext(ctx, a.heartbeat)
	wg.StartWithContext(ctx, func(ctx context.Context) { a.runQueue(ctx, a.podQueue, a.syncPod) })
	for range a.cfg.StatusWorkers {
		wg.StartWithContext(ctx, func(ctx context.Context) { a.runQueue(ctx, a.statusQueue, a.syncStatus) })
	}
	a.readyOnce.Do(func() { close(a.ready) })
	a.logger.Info("node agent running", "nodeIP", a.cfg.NodeIP, "runtime", a.cfg.RuntimeVersion,
		"backoffBase", a.cfg.BackoffBase, "statusWorkers", a.cfg.StatusWorkers)
	<-ctx.Done()
	a.podQueue.ShutDown()
	a.statusQueue.ShutDown()
	wg.Wait()
	a.stopAllPods()
	return nil
}

// runQueue processes keys until the queue shuts down.
func (a *Agent) runQueue(ctx context.Context, q workqueue.TypedRateLimitingInterface[cache.ObjectName], sync func(context.Context, cache.ObjectName) error) {
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		err := sync(ctx, key)
		switch {
		case err == nil:
			q.Forget(key)
		case ctx.Err() != nil:
		default:
			a.logger.Debug("sync failed, retrying", "pod", key.String(), "err", err)
			q.AddRateLimited(key)
		}
		q.Done(key)
	}
}

// stopAllPods kills every pod worker's containers within the shutdown
// grace period and waits for all pod goroutines.
func (a *Agent) stopAllPods() {
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.terminate(min(w.specGrace(), a.cfg.ShutdownGracePeriod), stopShutdown)
	}
	if len(workers) > 0 {
		a.logger.Info("stopping pods", "count", len(workers))
	}
	a.podWG.Wait()
}

// enqueuePod is the informer handler: it only enqueues.
func (a *Agent) enqueuePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.podQueue.Add(cache.MetaObjectToName(pod))
}
