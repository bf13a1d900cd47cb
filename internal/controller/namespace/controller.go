// Package namespace runs namespace deletion: for a Namespace with a
// deletionTimestamp it deletes everything in it (pods first, and nothing
// else until the pods are gone, as upstream's ordered namespace deletion
// does), keeps the NamespaceDeletion* status conditions, and once the
// namespace is empty removes the "kubernetes" finalizer through the
// namespaces/{name}/finalize subresource, after which the API server removes
// the namespace.
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := namespace.NewController(namespace.Config{
//		Client: client, Metadata: metadataClient, Informers: factory, Logger: logger,
//	})
//	if err != nil { return err }
//	go c.Run(ctx, 2)
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config configures the controller.
type Config struct {
	// Client reads namespaces live, writes their status and finalizes them.
	// Required.
	Client kubernetes.Interface
	// Metadata lists and deletes the content of namespaces. Required.
	Metadata metadata.Interface
	// Informers provides the namespace informer. Required; Run starts the
	// informers requested here.
	Informers informers.SharedInformerFactory
	// Resources are the namespaced resources to empty. Empty means
	// DefaultResources(). Pods, if listed, go first.
	Resources []schema.GroupVersionResource
	// RecheckInterval is how soon a namespace whose content is still going
	// away is looked at again. Zero means one second.
	RecheckInterval time.Duration
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
}

// podsResource is the resource deleted before all others.
var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// DefaultResources returns the namespaced resources Skiff serves.
func DefaultResources() []schema.GroupVersionResource {
	return []schema.GroupVersionResource{
		podsResource,
		{Group: "batch", Version: "v1", Resource: "jobs"},
		{Version: "v1", Resource: "configmaps"},
		{Version: "v1", Resource: "secrets"},
		{Version: "v1", Resource: "serviceaccounts"},
		{Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "events"},
		{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
	}
}

// Controller empties and finalizes deleted namespaces.
type Controller struct {
	log       *slog.Logger
	client    kubernetes.Interface
	metadata  metadata.Interface
	informers informers.SharedInformerFactory
	resources []schema.GroupVersionResource
	recheck   time.Duration
	synced    cache.InformerSynced
	// unsupported remembers resources whose deletecollection the server
	// refused (405/404), to list-and-delete them instead.
	unsupported *opCache
	// queue holds names of namespaces to process.
	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController builds the controller and registers its informer handlers.
func NewController(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("namespace controller: Client is required")
	case cfg.Metadata == nil:
		return nil, errors.New("namespace controller: Metadata is required")
	case cfg.Informers == nil:
		return nil, errors.New("namespace controller: Informers is required")
	}
	if len(cfg.Resources) == 0 {
		cfg.Resources = DefaultResources()
	}
	if cfg.RecheckInterval <= 0 {
		cfg.RecheckInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		log:         cfg.Logger.With("component", "namespace-controller"),
		client:      cfg.Client,
		metadata:    cfg.Metadata,
		informers:   cfg.Informers,
		resources:   orderResources(cfg.Resources),
		recheck:     cfg.RecheckInterval,
		unsupported: newOpCache(),
		queue:       workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	reg, err := cfg.Informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

// orderResources puts pods first and drops duplicates.
func orderResources(in []schema.GroupVersionResource) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	seen := map[schema.GroupVersionResource]bool{}
	for _, gvr := range in {
		if gvr == podsResource {
			out = append(out, gvr)
			seen[gvr] = true
		}
	}
	for _, gvr := range in {
		if !seen[gvr] {
			seen[gvr] = true
			out = append(out, gvr)
		}
	}
	return out
}

func (c *Controller) enqueue(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(ns.Name)
}

// Run starts the requested informers, waits for the cache and runs workers
// until ctx ends; it returns once they have stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		return fmt.Errorf("namespace controller: workers must be positive, got %d", workers)
	}
	var group wait.Group
	defer group.Wait()
	defer c.queue.ShutDown()
	c.informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("namespace controller: waiting for caches: %w", context.Cause(ctx))
	}
	c.log.Info("namespace controller started", "workers", workers, "resources", len(c.resources))
	for range workers {
		group.StartWithContext(ctx, c.worker)
	}
	<-ctx.Done()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		remaining, err := c.sync(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				c.log.Error("deleting namespace content failed", "namespace", name, "err", err)
			}
			c.queue.AddRateLimited(name)
		case remaining:
			c.queue.Forget(name)
			c.queue.AddAfter(name, c.recheck)
		default:
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}
