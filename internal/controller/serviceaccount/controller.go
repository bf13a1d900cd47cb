// Package serviceaccount keeps a "default" ServiceAccount in every Active
// namespace, recreating it when it is deleted, as upstream's service account
// controller does.
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := serviceaccount.NewController(serviceaccount.Config{
//		Client: client, Informers: factory, Logger: logger,
//	})
//	if err != nil { return err }
//	go c.Run(ctx, 1) // starts the factory's requested informers and blocks until ctx ends
package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller/workers"
)

// DefaultServiceAccountName is the ServiceAccount every namespace gets.
const DefaultServiceAccountName = "default"

// Config configures the controller.
type Config struct {
	// Client creates ServiceAccounts. Required.
	Client kubernetes.Interface
	// Informers provides the namespace and service account informers.
	// Required; Run starts the informers requested here.
	Informers informers.SharedInformerFactory
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
}

// Controller ensures the default ServiceAccount exists.
type Controller struct {
	log       *slog.Logger
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
	nsLister  corelisters.NamespaceLister
	saLister  corelisters.ServiceAccountLister
	synced    []cache.InformerSynced
	// queue holds namespace names to check.
	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController builds the controller and registers its informer handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("serviceaccount controller: Client is required")
	}
	if cfg.Informers == nil {
		return nil, errors.New("serviceaccount controller: Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	nsInformer := cfg.Informers.Core().V1().Namespaces()
	saInformer := cfg.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		log:       cfg.Logger.With("component", "serviceaccount-controller"),
		client:    cfg.Client,
		informers: cfg.Informers,
		nsLister:  nsInformer.Lister(),
		saLister:  saInformer.Lister(),
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	nsReg, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	saReg, err := saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	})
	if err != nil {
		return nil, fmt.Errorf("watching service accounts: %w", err)
	}
	c.synced = []cache.InformerSynced{nsReg.HasSynced, saReg.HasSynced}
	return c, nil
}

func (c *Controller) enqueueNamespace(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.Status.Phase != corev1.NamespaceActive {
		return
	}
	c.queue.Add(ns.Name)
}

func (c *Controller) serviceAccountDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok || sa.Name != DefaultServiceAccountName {
		return
	}
	c.queue.Add(sa.Namespace)
}

// Run starts the requested informers, waits for their caches and runs workers
// until ctx ends; it returns once they have stopped.
func (c *Controller) Run(ctx context.Context, n int) error {
	return workers.Loop[string]{
		Name: "serviceaccount controller", Log: c.log, Start: c.informers.Start, Synced: c.synced,
		Queue: c.queue, Sync: c.sync, KeyName: "namespace",
	}.Run(ctx, n)
}

// sync creates the default ServiceAccount in namespace name if it is Active
// and the account is missing.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", name, err)
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(name).Get(DefaultServiceAccountName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading service account %s/%s: %w", name, DefaultServiceAccountName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName}}
	_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default service account", "namespace", name)
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace started terminating after the cache said Active.
		return nil
	}
	return fmt.Errorf("creating service account %s/%s: %w", name, DefaultServiceAccountName, err)
}
