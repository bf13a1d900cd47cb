package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// monitor is the informer side of one watched resource.
type monitor struct {
	gvk          schema.GroupVersionKind
	lister       cache.GenericLister
	registration cache.ResourceEventHandlerRegistration
}

// Controller is the garbage collector. Create it with NewController and start
// it with Run.
type Controller struct {
	log       *slog.Logger
	client    metadata.Interface
	mapper    meta.RESTMapper
	informers metadatainformer.SharedInformerFactory
	monitors  map[schema.GroupVersionResource]*monitor
	// syncTimeout bounds the wait for informer caches in Run.
	syncTimeout time.Duration

	graph  *uidToNode
	absent *absentCache

	// graphChanges carries informer events (and virtual delete events) to the
	// single graph-builder goroutine, in order; only that goroutine mutates
	// the graph's structure.
	graphChanges workqueue.TypedInterface[*event]
	// attemptToDelete holds nodes whose owners or dependents need a decision.
	attemptToDelete workqueue.TypedRateLimitingInterface[*node]
	// attemptToOrphan holds owners being deleted with the orphan finalizer.
	attemptToOrphan workqueue.TypedRateLimitingInterface[*node]
	// ready is closed once Run has started its workers.
	ready chan struct{}
	// started makes a second Run fail instead of closing ready twice.
	started atomic.Bool
}

// NewController builds a garbage collector and registers its informers on
// cfg.Informers. Call it before the factory is started, or let Run start it.
func NewController(cfg Config) (*Controller, error) {
	if err := cfg.validateAndDefault(); err != nil {
		return nil, err
	}
	c := &Controller{
		log:          cfg.Logger.With("component", "garbage-collector"),
		client:       cfg.Metadata,
		mapper:       cfg.RESTMapper,
		informers:    cfg.Informers,
		monitors:     map[schema.GroupVersionResource]*monitor{},
		syncTimeout:  cfg.SyncTimeout,
		ready:        make(chan struct{}),
		graph:        &uidToNode{nodes: map[types.UID]*node{}},
		absent:       newAbsentCache(cfg.AbsentOwnerCacheSize),
		graphChanges: workqueue.NewTyped[*event](),
		attemptToDelete: workqueue.NewTypedRateLimitingQueue(
			workqueue.DefaultTypedControllerRateLimiter[*node]()),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueue(
			workqueue.DefaultTypedControllerRateLimiter[*node]()),
	}
	for _, gvr := range cfg.Resources {
		if err := c.addMonitor(gvr); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Controller) addMonitor(gvr schema.GroupVersionResource) error {
	if _, ok := c.monitors[gvr]; ok {
		return nil
	}
	gvk, err := c.kindFor(gvr)
	if err != nil {
		return err
	}
	inf := c.informers.ForResource(gvr)
	m := &monitor{gvk: gvk, lister: inf.Lister()}
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.enqueueInformerEvent(addEvent, gvk, obj, nil) },
		UpdateFunc: func(oldObj, newObj any) {
			c.enqueueInformerEvent(updateEvent, gvk, newObj, oldObj)
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			c.enqueueInformerEvent(deleteEvent, gvk, obj, nil)
		},
	})
	if err != nil {
		return fmt.Errorf("watching %s: %w", gvr, err)
	}
	m.registration = reg
	c.monitors[gvr] = m
	return nil
}

// kindFor maps gvr to its kind. An empty group means the core group here, not
// "any group" as RESTMapper.KindFor reads it (which makes v1 events
// ambiguous with events.k8s.io), so the exact group and version are picked.
func (c *Controller) kindFor(gvr schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	kinds, err := c.mapper.KindsFor(gvr)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("mapping %s to a kind: %w", gvr, err)
	}
	for _, gvk := range kinds {
		if gvk.Group == gvr.Group && gvk.Version == gvr.Version {
			return gvk, nil
		}
	}
	return schema.GroupVersionKind{}, fmt.Errorf("mapping %s to a kind: no kind in group %q version %q among %v", gvr, gvr.Group, gvr.Version, kinds)
}

func (c *Controller) enqueueInformerEvent(t eventType, gvk schema.GroupVersionKind, obj, oldObj any) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		c.log.Error("ignoring informer object without metadata", "type", fmt.Sprintf("%T", obj), "err", err)
		return
	}
	ev := &event{kind: t, gvk: gvk, obj: acc}
	if oldObj != nil {
		if oldAcc, err := meta.Accessor(oldObj); err == nil {
			ev.oldObj = oldAcc
		}
	}
	c.graphChanges.Add(ev)
}

// Run starts the informers requested by NewController (if the factory has not
// started them), waits for their caches, lets the graph catch up with the
// initial lists, then runs workers attempt-to-delete and workers
// attempt-to-orphan workers until ctx ends. It returns after every goroutine
// it started has stopped. Run must be called once.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		return fmt.Errorf("garbage collector: workers must be positive, got %d", workers)
	}
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("garbage collector: Run called twice")
	}
	var group wait.Group
	defer group.Wait()
	defer c.shutDownQueues()
	group.Start(c.runGraphBuilder)

	c.informers.Start(ctx.Done())
	if err := c.waitForMonitors(ctx); err != nil {
		return err
	}
	if err := c.waitForGraph(ctx); err != nil {
		return err
	}
	c.log.Info("garbage collector started", "workers", workers, "resources", len(c.monitors), "nodes", c.graph.len())
	for range workers {
		group.StartWithContext(ctx, c.runAttemptToDeleteWorker)
		group.StartWithContext(ctx, c.runAttemptToOrphanWorker)
	}
	close(c.ready)
	<-ctx.Done()
	return nil
}

// waitForMonitors waits for every informer to sync, but, like upstream, at
// most syncTimeout: a resource the server does not serve must not stop the
// collector. The resources still unsynced are logged.
func (c *Controller) waitForMonitors(ctx context.Context) error {
	synced := make([]cache.InformerSynced, 0, len(c.monitors))
	for _, m := range c.monitors {
		synced = append(synced, m.registration.HasSynced)
	}
	syncCtx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	if cache.WaitForCacheSync(syncCtx.Done(), synced...) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("garbage collector: waiting for caches: %w", context.Cause(ctx))
	}
	var unsynced []string
	for gvr, m := range c.monitors {
		if !m.registration.HasSynced() {
			unsynced = append(unsynced, gvr.String())
		}
	}
	c.log.Warn("not all resource monitors synced, proceeding anyway", "timeout", c.syncTimeout, "unsynced", unsynced)
	return nil
}

// waitForGraph waits until the graph builder has processed every event queued
// so far, which after cache sync includes every object of the initial lists.
func (c *Controller) waitForGraph(ctx context.Context) error {
	barrier := &event{kind: barrierEvent, barrier: make(chan struct{})}
	c.graphChanges.Add(barrier)
	select {
	case <-barrier.barrier:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("garbage collector: building the graph: %w", context.Cause(ctx))
	}
}

func (c *Controller) shutDownQueues() {
	c.graphChanges.ShutDown()
	c.attemptToDelete.ShutDown()
	c.attemptToOrphan.ShutDown()
}

func (c *Controller) runGraphBuilder() {
	for {
		ev, quit := c.graphChanges.Get()
		if quit {
			return
		}
		c.processGraphChange(ev)
		c.graphChanges.Done(ev)
	}
}

func (c *Controller) runAttemptToDeleteWorker(ctx context.Context) {
	for {
		n, quit := c.attemptToDelete.Get()
		if quit {
			return
		}
		switch c.attemptToDeleteNode(ctx, n) {
		case outcomeForget:
			c.attemptToDelete.Forget(n)
		case outcomeRequeue:
			c.attemptToDelete.AddRateLimited(n)
		}
		c.attemptToDelete.Done(n)
	}
}

func (c *Controller) runAttemptToOrphanWorker(ctx context.Context) {
	for {
		n, quit := c.attemptToOrphan.Get()
		if quit {
			return
		}
		if err := c.orphanOwner(ctx, n); err != nil {
			if ctx.Err() == nil {
				c.log.Error("orphaning dependents failed", "owner", n.identity.String(), "err", err)
			}
			c.attemptToOrphan.AddRateLimited(n)
		} else {
			c.attemptToOrphan.Forget(n)
		}
		c.attemptToOrphan.Done(n)
	}
}

// Ready is closed once Run has synced the informers (or given up waiting,
// see Config.SyncTimeout), built the initial graph and started its workers.
func (c *Controller) Ready() <-chan struct{} {
	return c.ready
}

// GraphSize reports how many objects (including virtual owners) the graph
// holds; for metrics and tests.
func (c *Controller) GraphSize() int {
	return c.graph.len()
}

func (id identity) String() string {
	if id.Namespace == "" {
		return fmt.Sprintf("%s/%s %s (%s)", id.APIVersion, id.Kind, id.Name, id.UID)
	}
	return fmt.Sprintf("%s/%s %s/%s (%s)", id.APIVersion, id.Kind, id.Namespace, id.Name, id.UID)
}

// beingDeleted reports whether obj has a deletionTimestamp.
func beingDeleted(obj metav1.Object) bool {
	return obj.GetDeletionTimestamp() != nil
}

func hasFinalizer(obj metav1.Object, finalizer string) bool {
	for _, f := range obj.GetFinalizers() {
		if f == finalizer {
			return true
		}
	}
	return false
}
