// Package scheduler binds pending Pods to Nodes, a small kube-scheduler:
// a pod without spec.nodeName whose schedulerName is default-scheduler is
// bound (pods/binding) to a Ready node that matches its nodeSelector and
// required node affinity, tolerates its taints and has room for its
// requests. A pod that fits nowhere gets PodScheduled=False (Unschedulable)
// with upstream's message and a FailedScheduling event, and is retried when
// nodes or pods change. Pods are scheduled in batches and bound in
// parallel, so a thousand pods bind in well under a second.
//
//	s, err := scheduler.New(scheduler.Config{Client: client, Logger: logger})
//	go s.Run(ctx)
//	<-s.Ready()
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/informer"
)

// DefaultSchedulerName is the schedulerName this scheduler serves.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config configures New.
type Config struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Logger; nil discards.
	Logger *slog.Logger
	// Resync of the informers; 0 disables it.
	Resync time.Duration
	// Parallelism is the number of concurrent binds (default 32).
	Parallelism int
	// BatchSize caps the pods scheduled in one pass (default 1000).
	BatchSize int
	// NewInformerFactory makes the scheduler's informer factory. Nil means
	// client-go's, over Client.
	NewInformerFactory informer.FactoryFunc
	// EventClient writes the scheduler's events; nil means Client. Give it
	// a rate limit: events are best effort, and the broadcaster drops what
	// does not fit its queue rather than crowd out binding.
	EventClient kubernetes.Interface
}

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	cfg    Config
	logger *slog.Logger
	client kubernetes.Interface

	factory    informers.SharedInformerFactory
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	// mu guards assumed and unschedulable: the scheduling loop writes them,
	// informer handlers read and clear them.
	mu sync.Mutex
	// assumed holds pods bound by this scheduler that the informer has not
	// shown bound yet, so their requests count on the node meanwhile.
	assumed map[types.UID]assumedPod
	// unschedulable holds pods that fit nowhere; they are retried when a
	// node or a pod changes.
	unschedulable map[cache.ObjectName]bool

	ready chan struct{}
}

type assumedPod struct {
	node string
	pod  *corev1.Pod
}

// New validates cfg and builds a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil {
		return nil, errors.New("scheduler: Client is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 32
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.NewInformerFactory == nil {
		cfg.NewInformerFactory = informer.NewFactory
	}
	s := &Scheduler{
		cfg: cfg, client: cfg.Client, logger: cfg.Logger.With("component", "scheduler"),
		factory: cfg.NewInformerFactory(cfg.Client, cfg.Resync, nil),
		assumed: map[types.UID]assumedPod{}, unschedulable: map[cache.ObjectName]bool{},
		ready: make(chan struct{}),
	}
	pods, nodes := s.factory.Core().V1().Pods(), s.factory.Core().V1().Nodes()
	s.podLister, s.nodeLister = pods.Lister(), nodes.Lister()
	s.synced = []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.onPod, UpdateFunc: func(_, obj any) { s.onPod(obj) }, DeleteFunc: s.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: pod informer: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { s.retryUnschedulable() }, UpdateFunc: func(any, any) { s.retryUnschedulable() },
	}); err != nil {
		return nil, fmt.Errorf("scheduler: node informer: %w", err)
	}
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "scheduler"})
	s.broadcaster = record.NewBroadcaster()
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DefaultSchedulerName})
	return s, nil
}

// Ready is closed once the caches are synced and scheduling runs.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// Run schedules until ctx ends; it returns after its goroutines stopped.
func (s *Scheduler) Run(ctx context.Context) error {
	events := s.cfg.EventClient
	if events == nil {
		events = s.client
	}
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()
	defer s.queue.ShutDown()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("scheduler: waiting for caches: %w", ctx.Err())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.loop(ctx)
	}()
	close(s.ready)
	s.logger.Info("scheduler running", "parallelism", s.cfg.Parallelism)
	<-ctx.Done()
	s.queue.ShutDown()
	<-done
	return nil
}

// needsScheduling: unbound, ours, alive, not gated.
func needsScheduling(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.Spec.SchedulerName == DefaultSchedulerName && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && len(pod.Spec.SchedulingGates) == 0
}

func (s *Scheduler) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if needsScheduling(pod) {
		s.queue.Add(cache.MetaObjectToName(pod))
		return
	}
	s.mu.Lock()
	_, wasAssumed := s.assumed[pod.UID]
	if pod.Spec.NodeName != "" {
		delete(s.assumed, pod.UID)
	}
	s.mu.Unlock()
	if !wasAssumed && pod.Spec.NodeName != "" && (pod.DeletionTimestamp != nil || terminal(pod)) {
		s.retryUnschedulable() // resources may have been freed
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.assumed, pod.UID)
	delete(s.unschedulable, cache.MetaObjectToName(pod))
	s.mu.Unlock()
	if pod.Spec.NodeName != "" {
		s.retryUnschedulable()
	}
}

// retryUnschedulable requeues the pods that fit nowhere.
func (s *Scheduler) retryUnschedulable() {
	s.mu.Lock()
	keys := make([]cache.ObjectName, 0, len(s.unschedulable))
	for k := range s.unschedulable {
		keys = append(keys, k)
	}
	clear(s.unschedulable)
	s.mu.Unlock()
	for _, k := range keys {
		s.queue.Add(k)
	}
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
