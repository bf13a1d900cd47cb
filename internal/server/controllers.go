package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/controller/garbagecollector"
	jobcontroller "github.com/skiff-sh/skiff/internal/controller/job"
	nscontroller "github.com/skiff-sh/skiff/internal/controller/namespace"
	"github.com/skiff-sh/skiff/internal/controller/podgc"
	"github.com/skiff-sh/skiff/internal/controller/rootcacert"
	sacontroller "github.com/skiff-sh/skiff/internal/controller/serviceaccount"
	"github.com/skiff-sh/skiff/internal/controller/tokens"
	"github.com/skiff-sh/skiff/internal/controller/ttlafterfinished"
	"github.com/skiff-sh/skiff/internal/informer"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// runnable is a controller: Run blocks until ctx ends.
type runnable interface {
	Run(ctx context.Context, workers int) error
}

// controllerManager runs the built-in controllers over one loopback client
// and shared informer factories, as kube-controller-manager does.
type controllerManager struct {
	logger      *slog.Logger
	factory     informers.SharedInformerFactory
	metaFactory metadatainformer.SharedInformerFactory
	broadcaster record.EventBroadcaster
	controllers map[string]runnable
	workers     map[string]int
}

// identityConfig returns a loopback client config for an identity.
type identityConfig func(who user.Info) (*rest.Config, error)

// newControllerManager builds the controllers, each writing with its own
// identity (upstream's per-controller service accounts). The shared
// informers read with the garbage collector's, which may read everything.
// podGC carries the pod garbage collector's settings (threshold, period);
// its client, informers and logger are filled in here.
func newControllerManager(configFor identityConfig, logger *slog.Logger, served []*apiserver.Resource, src *informer.Source, rootCA []byte,
	tokenIssuer tokens.Issuer, podGC podgc.Config) (*controllerManager, error) {
	clientFor := func(name string) (kubernetes.Interface, error) {
		cfg, err := configFor(auth.ControllerInfo(name))
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(cfg)
	}
	readCfg, err := configFor(auth.ControllerInfo(auth.GarbageCollector))
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(readCfg)
	if err != nil {
		return nil, fmt.Errorf("controller client: %w", err)
	}
	meta, err := metadata.NewForConfig(readCfg)
	if err != nil {
		return nil, fmt.Errorf("controller metadata client: %w", err)
	}
	clients := map[string]kubernetes.Interface{}
	for _, name := range auth.Controllers {
		if clients[name], err = clientFor(name); err != nil {
			return nil, fmt.Errorf("client for %s: %w", name, err)
		}
	}
	m := &controllerManager{
		logger:      logger.With("component", "controller-manager"),
		factory:     src.Factory(client, 0, nil),
		metaFactory: src.MetadataFactory(meta, 0),
		broadcaster: record.NewBroadcaster(),
		controllers: map[string]runnable{},
		workers:     map[string]int{},
	}
	events, err := eventClient(configFor, auth.ControllerInfo(auth.JobController), controllerManagerEvents)
	if err != nil {
		return nil, err
	}
	m.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	add := func(name string, workers int, c runnable, err error) error {
		if err != nil {
			return fmt.Errorf("%s controller: %w", name, err)
		}
		m.controllers[name], m.workers[name] = c, workers
		return nil
	}
	recorder := func(component string) record.EventRecorder {
		return m.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	f := m.factory
	jc, err := jobcontroller.NewController(jobcontroller.Config{
		Client: clients[auth.JobController], PodInformer: f.Core().V1().Pods(), JobInformer: f.Batch().V1().Jobs(),
		Logger: logger, Recorder: recorder(jobcontroller.ComponentName),
	})
	// 32 workers: a sync waits on a few sequential writes, so with 8 a burst
	// of 1,000 single-pod Jobs spent most of its time queued (p99 9.8 s -> 4 s).
	if err := add("job", 32, jc, err); err != nil {
		return nil, err
	}
	gcResources, mapper := garbageCollected(served)
	gc, err := garbagecollector.NewController(garbagecollector.Config{
		Metadata: meta, Informers: m.metaFactory, Resources: gcResources, RESTMapper: mapper, Logger: logger,
	})
	// 64 workers (upstream's --concurrent-gc-syncs default is 20): each
	// delete waits on a durable write, and in a 1,000-Pod cascade 20 workers
	// deleted at half the rate the Job controller released the Pods'
	// finalizers (Pods gone in 1.56 - 1.60 s against 1.31 - 1.46 s with 64).
	if err := add("garbage-collector", 64, gc, err); err != nil {
		return nil, err
	}
	nsMeta, err := metadataFor(configFor, auth.NamespaceController)
	if err != nil {
		return nil, err
	}
	nc, err := nscontroller.NewController(nscontroller.Config{Client: clients[auth.NamespaceController], Metadata: nsMeta, Informers: f,
		Resources: namespacedContent(served), Logger: logger})
	if err := add("namespace", 2, nc, err); err != nil {
		return nil, err
	}
	sc, err := sacontroller.NewController(sacontroller.Config{Client: clients[auth.ServiceAccountController], Informers: f, Logger: logger})
	if err := add("serviceaccount", 2, sc, err); err != nil {
		return nil, err
	}
	rc, err := rootcacert.NewController(rootcacert.Config{Client: clients[auth.RootCACertPublisher], ReadClient: client, Informers: f,
		RootCA: rootCA, Logger: logger})
	if err := add("root-ca-cert-publisher", 2, rc, err); err != nil {
		return nil, err
	}
	// The tokens controller writes as kube-controller-manager itself, as
	// upstream's does (its root client), not as a service account.
	kcmConfig, err := configFor(auth.ControllerManagerInfo())
	if err != nil {
		return nil, err
	}
	kcm, err := kubernetes.NewForConfig(kcmConfig)
	if err != nil {
		return nil, fmt.Errorf("controller manager client: %w", err)
	}
	tok, err := tokens.NewController(tokens.Config{Client: kcm, Informers: f, Issuer: tokenIssuer, RootCA: rootCA, Logger: logger})
	if err := add("tokens", 2, tok, err); err != nil {
		return nil, err
	}
	tc, err := ttlafterfinished.NewController(ttlafterfinished.Config{Client: clients[auth.TTLAfterFinishedController], Informers: f, Logger: logger})
	if err := add("ttl-after-finished", 2, tc, err); err != nil {
		return nil, err
	}
	podGC.Client, podGC.Informers, podGC.Logger = clients[auth.PodGarbageCollector], f, logger
	pc, err := podgc.NewController(podGC)
	if err := add("pod-garbage-collector", 1, pc, err); err != nil {
		return nil, err
	}
	return m, nil
}

// run starts the informers and every controller, and returns when ctx ends
// and all of them have stopped.
func (m *controllerManager) run(ctx context.Context) {
	defer m.broadcaster.Shutdown()
	var wg sync.WaitGroup
	for name, c := range m.controllers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx, m.workers[name]); err != nil && ctx.Err() == nil {
				m.logger.Error("controller stopped", "controller", name, "err", err)
			}
		}()
	}
	// Controllers register their informers in their constructors; start
	// them all now (starting twice is a no-op).
	m.factory.Start(ctx.Done())
	m.metaFactory.Start(ctx.Done())
	wg.Wait()
	m.factory.Shutdown()
	m.metaFactory.Shutdown()
}

// garbageCollected returns the served resources whose objects can carry
// ownerReferences and be deleted, and a RESTMapper for every served kind.
func garbageCollected(served []*apiserver.Resource) ([]schema.GroupVersionResource, meta.RESTMapper) {
	mapper := meta.NewDefaultRESTMapper(nil)
	var gvrs []schema.GroupVersionResource
	for _, r := range served {
		scope := meta.RESTScopeRoot
		if r.Store.Namespaced() {
			scope = meta.RESTScopeNamespace
		}
		mapper.AddSpecific(r.GroupVersion.WithKind(r.Kind), r.GroupVersionResource(), r.GroupVersion.WithResource(r.SingularName), scope)
		// Upstream's collector ignores events, as they are never owners and
		// their owners' deletion must not cascade into the event stream.
		if r.Name == "events" {
			continue
		}
		if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") && slices.Contains(r.Verbs, "delete") {
			gvrs = append(gvrs, r.GroupVersionResource())
		}
	}
	return gvrs, mapper
}

// namespacedContent returns every served namespaced resource that can be
// listed and deleted: what a namespace's deletion must empty, as upstream's
// controller finds by discovery. A fixed list once forgot Roles and
// RoleBindings, which then outlived their namespace and came back to life
// with a namespace of the same name.
func namespacedContent(served []*apiserver.Resource) []schema.GroupVersionResource {
	var gvrs []schema.GroupVersionResource
	for _, r := range served {
		if r.Store == nil || !r.Store.Namespaced() || r.Handler != nil {
			continue
		}
		if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "delete") {
			gvrs = append(gvrs, r.GroupVersionResource())
		}
	}
	return gvrs
}

func metadataFor(configFor identityConfig, name string) (metadata.Interface, error) {
	cfg, err := configFor(auth.ControllerInfo(name))
	if err != nil {
		return nil, err
	}
	return metadata.NewForConfig(cfg)
}

// eventRate bounds a component's event writes, as upstream's components
// bound them with their client's QPS and burst. Events are best effort: the
// broadcaster queues up to 1,000 and drops the rest, so a burst of Pods
// cannot spend the server on events at the cost of the Pods themselves.
type eventRate struct {
	qps   float32
	burst int
}

var (
	// kubelet --event-qps, --event-burst
	kubeletEvents = eventRate{qps: 50, burst: 100}
	// kube-scheduler --kube-api-qps, --kube-api-burst
	schedulerEvents = eventRate{qps: 50, burst: 100}
	// kube-controller-manager --kube-api-qps, --kube-api-burst
	controllerManagerEvents = eventRate{qps: 20, burst: 30}
)

// eventClient is a client acting as who whose requests are limited to rate.
func eventClient(configFor identityConfig, who user.Info, rate eventRate) (kubernetes.Interface, error) {
	cfg, err := configFor(who)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = rate.qps, rate.burst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("event client for %s: %w", who.GetName(), err)
	}
	return client, nil
}
