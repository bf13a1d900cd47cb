package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// FakeNodeTaintKey is the NoSchedule taint a fake node carries so that a
// real scheduler places only Pods that tolerate it there.
const FakeNodeTaintKey = "skiff-bench/fake-node"

// DefaultFakeNodeWorkers is the default number of pod workers of a FakeNode.
const DefaultFakeNodeWorkers = 4

// FakeNodeConfig configures NewFakeNode.
type FakeNodeConfig struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// NodeName is the Node to register. Default "skiff-bench-fake-<random>".
	NodeName string
	// Namespace limits the Pods handled to one namespace. Empty means all.
	Namespace string
	// LabelSelector limits the Pods handled. Empty means all.
	LabelSelector string
	// Workers is the number of Pods handled concurrently. Default 4.
	Workers int
	// RunDuration is how long a Pod stays Running before it is marked
	// Succeeded. Default 0: at once.
	RunDuration time.Duration
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
}

// FakeNode plays the kubelet for a Node that has no machine behind it, like
// kwok: it registers the Node and keeps its Lease fresh, binds unbound Pods
// to it through the pods/binding subresource, and moves each bound Pod to
// Running and then Succeeded through the status subresource. Pods being
// deleted are removed with a zero grace period, as a kubelet confirms
// termination.
//
// Pod lifecycle handled per pod:
//
//	unbound --bind--> Pending --status--> Running --RunDuration--> Succeeded
//	any state with deletionTimestamp --delete(grace 0)--> gone
type FakeNode struct {
	cfg    FakeNodeConfig
	client kubernetes.Interface
	log    *slog.Logger
	// queue holds pods to sync; it dedups keys so a pod is synced by one
	// worker at a time.
	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// ready is closed once the Node is registered and the pod cache synced.
	ready chan struct{}
}

// NewFakeNode validates cfg and fills defaults. Call Run to start it.
func NewFakeNode(cfg FakeNodeConfig) (*FakeNode, error) {
	if cfg.Client == nil {
		return nil, errors.New("fake node: a Client is required")
	}
	if cfg.Workers < 0 || cfg.RunDuration < 0 {
		return nil, errors.New("fake node: workers and run duration must not be negative")
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "skiff-bench-fake-" + utilrand.String(6)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultFakeNodeWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &FakeNode{
		cfg:    cfg,
		client: cfg.Client,
		log:    cfg.Logger.With("component", "fake-node", "node", cfg.NodeName),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](5*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "skiff-bench-fake-node"}),
		ready: make(chan struct{}),
	}, nil
}

// Name returns the Node's name.
func (n *FakeNode) Name() string { return n.cfg.NodeName }

// Ready is closed once the Node is registered and Pods are being handled.
func (n *FakeNode) Ready() <-chan struct{} { return n.ready }

// PodSpecMutator returns a function that pins a Pod template to this node:
// a node selector on its hostname label and a toleration of its taint.
func (n *FakeNode) PodSpecMutator() func(*corev1.PodSpec) {
	return func(spec *corev1.PodSpec) {
		spec.NodeSelector = map[string]string{corev1.LabelHostname: n.cfg.NodeName}
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
			Key: FakeNodeTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
		})
	}
}

// Run registers the Node and handles Pods until ctx is done; then it stops
// its workers, deletes the Node (best effort, bounded) and returns. Shutdown
// order: queue → workers and heartbeat → informer → Node deletion.
func (n *FakeNode) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return err
	}
	defer n.unregister(ctx)

	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithNamespace(n.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = n.cfg.LabelSelector }))
	podInformer := factory.Core().V1().Pods()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    n.enqueue,
		UpdateFunc: func(_, obj any) { n.enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("fake node: adding pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return fmt.Errorf("fake node: waiting for pod cache: %w", ctx.Err())
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer n.queue.ShutDown()
	wg.Go(func() { n.heartbeat(ctx) })
	lister := podInformer.Lister()
	for range n.cfg.Workers {
		wg.Go(func() {
			for n.processNext(ctx, lister) {
			}
		})
	}
	close(n.ready)
	n.log.Info("fake node running", "namespace", n.cfg.Namespace, "selector", n.cfg.LabelSelector)
	<-ctx.Done()
	return nil
}

func (n *FakeNode) enqueue(obj any) {
	key, err := cache.ObjectToName(obj)
	if err != nil {
		n.log.Warn("cannot key pod", "err", err)
		return
	}
	n.queue.Add(key)
}

// processNext syncs one pod; it reports false when the queue shut down.
func (n *FakeNode) processNext(ctx context.Context, lister corelisters.PodLister) bool {
	key, shutdown := n.queue.Get()
	if shutdown {
		return false
	}
	defer n.queue.Done(key)
	err := n.sync(ctx, lister, key)
	switch {
	case err == nil:
		n.queue.Forget(key)
	case ctx.Err() != nil:
	default:
		n.log.Debug("pod sync failed, retrying", "pod", key.String(), "err", err)
		n.queue.AddRateLimited(key)
	}
	return true
}

// sync moves one pod one step along its lifecycle.
func (n *FakeNode) sync(ctx context.Context, lister corelisters.PodLister, key cache.ObjectName) error {
	pod, err := lister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting pod from cache: %w", err)
	}
	switch {
	case pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil:
		return n.bind(ctx, pod)
	case pod.Spec.NodeName != n.cfg.NodeName:
		return nil
	case pod.DeletionTimestamp != nil:
		return n.finishDeletion(ctx, pod)
	case pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "":
		return n.updateStatus(ctx, runningStatus(pod, time.Now()))
	case pod.Status.Phase == corev1.PodRunning:
		return n.complete(ctx, pod)
	}
	return nil
}

func (n *FakeNode) bind(ctx context.Context, pod *corev1.Pod) error {
	err := n.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: n.cfg.NodeName},
	}, metav1.CreateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Bound elsewhere meanwhile, or gone: the next event says which.
		return nil
	}
	if err != nil {
		return fmt.Errorf("binding pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// complete marks a Running pod Succeeded once RunDuration has passed.
func (n *FakeNode) complete(ctx context.Context, pod *corev1.Pod) error {
	if pod.Status.StartTime != nil {
		if wait := time.Until(pod.Status.StartTime.Add(n.cfg.RunDuration)); wait > 0 {
			n.queue.AddAfter(cache.MetaObjectToName(pod), wait)
			return nil
		}
	}
	return n.updateStatus(ctx, succeededStatus(pod, time.Now()))
}

func (n *FakeNode) updateStatus(ctx context.Context, pod *corev1.Pod) error {
	_, err := n.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("updating status of pod %s/%s to %s: %w", pod.Namespace, pod.Name, pod.Status.Phase, err)
	}
	return nil
}

// finishDeletion confirms a graceful deletion, as a kubelet does once the
// containers are stopped.
func (n *FakeNode) finishDeletion(ctx context.Context, pod *corev1.Pod) error {
	err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
