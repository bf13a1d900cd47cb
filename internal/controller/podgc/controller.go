// Package podgc force-deletes pods nobody else will delete, as upstream's pod
// GC controller does: terminated pods beyond a threshold (oldest first,
// evicted first), pods bound to nodes that no longer exist (after a
// quarantine), unscheduled pods that are terminating, and terminating pods on
// NotReady nodes tainted out-of-service. Non-terminal pods are marked Failed
// before the delete (grace period 0).
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := podgc.NewController(podgc.Config{Client: client, Informers: factory, Logger: logger})
//	if err != nil { return err }
//	go c.Run(ctx, 4) // 4 = parallel deletes
package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Defaults, as upstream kube-controller-manager's.
const (
	DefaultTerminatedPodThreshold = 12500
	DefaultQuarantine             = 40 * time.Second
	DefaultPeriod                 = 20 * time.Second
)

// Config configures the controller.
type Config struct {
	// Client patches pod status, reads nodes live and deletes pods. Required.
	Client kubernetes.Interface
	// Informers provides the pod and node informers. Required; Run starts
	// the informers requested here.
	Informers informers.SharedInformerFactory
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
	// Clock drives the period and the quarantine. Nil means the real clock.
	Clock clock.WithTicker
	// TerminatedPodThreshold is how many terminated (Succeeded or Failed)
	// pods may exist before the oldest are deleted. Zero means
	// DefaultTerminatedPodThreshold; negative disables that collection.
	TerminatedPodThreshold int
	// Quarantine is how long a node must stay missing before its pods are
	// deleted. Zero means DefaultQuarantine.
	Quarantine time.Duration
	// Period is the time between collections. Zero means DefaultPeriod.
	Period time.Duration
}

// Controller is the pod garbage collector.
type Controller struct {
	log        *slog.Logger
	client     kubernetes.Interface
	informers  informers.SharedInformerFactory
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	clock      clock.WithTicker
	threshold  int
	quarantine time.Duration
	period     time.Duration
	// nodeQueue holds names of nodes seen missing; an entry becomes ready
	// once its quarantine has passed.
	nodeQueue workqueue.TypedDelayingInterface[string]
	// parallelism bounds concurrent deletes; set by Run.
	parallelism int
}

// NewController builds the controller.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("podgc controller: Client is required")
	}
	if cfg.Informers == nil {
		return nil, errors.New("podgc controller: Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.TerminatedPodThreshold == 0 {
		cfg.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	if cfg.Quarantine <= 0 {
		cfg.Quarantine = DefaultQuarantine
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	pods := cfg.Informers.Core().V1().Pods()
	nodes := cfg.Informers.Core().V1().Nodes()
	return &Controller{
		log:         cfg.Logger.With("component", "pod-garbage-collector"),
		client:      cfg.Client,
		informers:   cfg.Informers,
		podLister:   pods.Lister(),
		nodeLister:  nodes.Lister(),
		synced:      []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		clock:       cfg.Clock,
		threshold:   cfg.TerminatedPodThreshold,
		quarantine:  cfg.Quarantine,
		period:      cfg.Period,
		nodeQueue:   workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Clock: cfg.Clock}),
		parallelism: 1,
	}, nil
}

// Run starts the requested informers, waits for their caches, then collects
// every Period until ctx ends, with up to workers deletes in flight.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		return fmt.Errorf("podgc controller: workers must be positive, got %d", workers)
	}
	c.parallelism = workers
	defer c.nodeQueue.ShutDown()
	c.informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("podgc controller: waiting for caches: %w", context.Cause(ctx))
	}
	c.log.Info("pod garbage collector started", "terminatedPodThreshold", c.threshold,
		"quarantine", c.quarantine, "period", c.period)
	for {
		c.gc(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.period):
		}
	}
}
