// Package rootcacert publishes the cluster's CA bundle as the ConfigMap
// kube-root-ca.crt in every Active namespace, keeping its data and
// description annotation as upstream's root-ca-cert-publisher does (pods
// mount it to trust the API server; upstream's e2e framework waits for it in
// every test namespace).
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(readClient, 0)
//	c, err := rootcacert.NewController(rootcacert.Config{
//		Client: client, ReadClient: readClient, Informers: factory, RootCA: caPEM, Logger: logger,
//	})
//	if err != nil { return err }
//	go c.Run(ctx, 1) // starts the informers and blocks until ctx ends
package rootcacert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller/workers"
)

// Upstream's names and texts.
const (
	ConfigMapName         = "kube-root-ca.crt"
	dataKey               = "ca.crt"
	descriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Config configures the controller.
type Config struct {
	// Client creates and updates the ConfigMaps. Required.
	Client kubernetes.Interface
	// ReadClient watches the kube-root-ca.crt ConfigMaps (and only them).
	// Default Client.
	ReadClient kubernetes.Interface
	// Informers provides the namespace informer. Required; Run starts it.
	Informers informers.SharedInformerFactory
	// RootCA is the PEM bundle to publish. Required.
	RootCA []byte
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
}

// Controller keeps kube-root-ca.crt in every Active namespace.
type Controller struct {
	log       *slog.Logger
	client    kubernetes.Interface
	informers []informers.SharedInformerFactory
	nsLister  corelisters.NamespaceLister
	cmLister  corelisters.ConfigMapLister
	synced    []cache.InformerSynced
	rootCA    string
	// queue holds namespace names to check.
	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController builds the controller and registers its informer handlers.
func NewController(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("root CA publisher: Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("root CA publisher: Informers is required")
	case len(cfg.RootCA) == 0:
		return nil, errors.New("root CA publisher: RootCA is required")
	}
	if cfg.ReadClient == nil {
		cfg.ReadClient = cfg.Client
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Only the published ConfigMaps are watched, not every ConfigMap.
	cms := informers.NewSharedInformerFactoryWithOptions(cfg.ReadClient, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
	}))
	nsInformer := cfg.Informers.Core().V1().Namespaces()
	cmInformer := cms.Core().V1().ConfigMaps()
	c := &Controller{
		log:       cfg.Logger.With("component", "root-ca-cert-publisher"),
		client:    cfg.Client,
		informers: []informers.SharedInformerFactory{cfg.Informers, cms},
		nsLister:  nsInformer.Lister(),
		cmLister:  cmInformer.Lister(),
		rootCA:    string(cfg.RootCA),
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	nsReg, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	cmReg, err := cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.enqueueConfigMap(obj) },
		DeleteFunc: c.enqueueConfigMap,
	})
	if err != nil {
		return nil, fmt.Errorf("watching configmaps: %w", err)
	}
	c.synced = []cache.InformerSynced{nsReg.HasSynced, cmReg.HasSynced}
	return c, nil
}

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) enqueueConfigMap(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
		c.queue.Add(cm.Namespace)
	}
}

// Run starts the informers, waits for their caches and runs workers until
// ctx ends; it returns once they have stopped.
func (c *Controller) Run(ctx context.Context, n int) error {
	defer c.informers[1].Shutdown() // its own; the shared one belongs to its owner
	return workers.Loop[string]{
		Name: "root CA publisher", Log: c.log, Queue: c.queue, Synced: c.synced, Sync: c.sync, KeyName: "namespace",
		Start: func(stop <-chan struct{}) {
			for _, f := range c.informers {
				f.Start(stop)
			}
		},
	}.Run(ctx, n)
}

// sync creates kube-root-ca.crt in namespace name if it is Active, or puts
// back its data and description if they were changed.
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
	cm, err := c.cmLister.ConfigMaps(name).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		return c.create(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("reading configmap %s/%s: %w", name, ConfigMapName, err)
	}
	data := map[string]string{dataKey: c.rootCA}
	if maps.Equal(cm.Data, data) && len(cm.BinaryData) == 0 && cm.Annotations[descriptionAnnotation] == description {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data, cm.BinaryData = data, nil
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[descriptionAnnotation] = description
	if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating configmap %s/%s: %w", name, ConfigMapName, err)
	}
	return nil
}

func (c *Controller) create(ctx context.Context, namespace string) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Annotations: map[string]string{descriptionAnnotation: description}},
		Data:       map[string]string{dataKey: c.rootCA},
	}
	_, err := c.client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	}
	return fmt.Errorf("creating configmap %s/%s: %w", namespace, ConfigMapName, err)
}
