package informer

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"
)

// fakeStore lists pods and hands out one watch; it records the options.
type fakeStore struct {
	mu    sync.Mutex
	pods  []corev1.Pod
	opts  []metainternalversion.ListOptions
	watch *watch.FakeWatcher
}

func (s *fakeStore) List(_ context.Context, _ string, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = append(s.opts, *opts)
	return &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: s.pods}, nil
}

// Watch plays the watch cache's watch-list (client-go's reflectors ask for
// it): the pods as ADDED, then the bookmark that ends the initial events.
func (s *fakeStore) Watch(_ context.Context, _ string, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = append(s.opts, *opts)
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		for i := range s.pods {
			s.watch.Add(shared{&s.pods[i]}) // the cache's own objects
		}
		end := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10",
			Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
		s.watch.Action(watch.Bookmark, end)
	}
	return s.watch, nil
}

func (s *fakeStore) recorded() []metainternalversion.ListOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]metainternalversion.ListOptions(nil), s.opts...)
}

// shared stands for the watch cache's encode-once wrapper.
type shared struct{ runtime.Object }

func (s shared) CacheEncode(runtime.Identifier, func(runtime.Object, io.Writer) error, io.Writer) error {
	return nil
}
func (s shared) GetObject() runtime.Object { return s.Object }

func pod(name, rv string) corev1.Pod {
	return corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv, Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func newSource(store *fakeStore) *Source {
	return NewSource([]Resource{{GVR: podsGVR, Object: &corev1.Pod{}, Store: store}})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestFactory_PodInformerReadsTheStoreAndOwnsItsObjects(t *testing.T) {
	store := &fakeStore{pods: []corev1.Pod{pod("a", "5")}, watch: watch.NewFakeWithChanSize(16, false)}
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}})
	f := newSource(store).Factory(client, 0, func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=n1" })
	pods := f.Core().V1().Pods()
	secrets := f.Core().V1().Secrets() // not in the Source: through the client
	pods.Informer()
	secrets.Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}

	got, err := pods.Lister().Pods("ns").Get("a")
	if err != nil {
		t.Fatalf("listed pod: %v", err)
	}
	if got.Kind != "" || got.APIVersion != "" {
		t.Errorf("type meta = %+v, want empty as client-go's decoders leave it", got.TypeMeta)
	}
	store.pods[0].Labels["app"] = "changed in the cache" // what List returned shares it
	if got.Labels["app"] != "x" {
		t.Error("the informer's pod shares its labels with the store's")
	}
	for _, o := range store.recorded() {
		if o.FieldSelector == nil || o.FieldSelector.String() != "spec.nodeName=n1" {
			t.Errorf("store saw field selector %v, want the tweak's spec.nodeName=n1", o.FieldSelector)
		}
	}
	if _, err := secrets.Lister().Secrets("ns").Get("s"); err != nil {
		t.Errorf("secret from the client: %v", err)
	}

	cached := pod("b", "11")
	store.watch.Add(shared{&cached})
	waitFor(t, "the watched pod", func() bool { _, err := pods.Lister().Pods("ns").Get("b"); return err == nil })
	b, _ := pods.Lister().Pods("ns").Get("b")
	if b == &cached || b.Kind != "" {
		t.Errorf("watched pod is the cache's own object or keeps its type meta: %+v", b.TypeMeta)
	}
	store.watch.Delete(shared{&cached})
	waitFor(t, "the deleted pod to go", func() bool { _, err := pods.Lister().Pods("ns").Get("b"); return err != nil })
}

func TestMetadataFactory_HoldsPartialObjectMetadataCopies(t *testing.T) {
	store := &fakeStore{pods: []corev1.Pod{pod("a", "5")}, watch: watch.NewFakeWithChanSize(16, false)}
	scheme := runtime.NewScheme()
	metav1.AddMetaToScheme(scheme)
	f := newSource(store).MetadataFactory(metadatafake.NewSimpleMetadataClient(scheme), 0)
	inf := f.ForResource(podsGVR)
	if f.ForResource(podsGVR) != inf {
		t.Error("ForResource made a second informer for the same resource")
	}
	cms := f.ForResource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}) // through the client
	cms.Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", gvr)
		}
	}
	obj, err := inf.Lister().ByNamespace("ns").Get("a")
	if err != nil {
		t.Fatalf("listed pod metadata: %v", err)
	}
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		t.Fatalf("informer holds %T, want *metav1.PartialObjectMetadata", obj)
	}
	store.pods[0].Labels["app"] = "changed in the cache"
	if p.Labels["app"] != "x" || p.Kind != "PartialObjectMetadata" {
		t.Errorf("metadata = %+v %v, want its own labels {app: x} and kind PartialObjectMetadata", p.TypeMeta, p.Labels)
	}

	cached := pod("b", "11")
	store.watch.Add(shared{&cached})
	waitFor(t, "the watched pod's metadata", func() bool {
		obj, err := inf.Lister().ByNamespace("ns").Get("b")
		_, ok := obj.(*metav1.PartialObjectMetadata)
		return err == nil && ok
	})
	var _ cache.GenericLister = cms.Lister()
}

func TestListWatch_ListCopiesTheStoresObjects(t *testing.T) {
	store := &fakeStore{pods: []corev1.Pod{pod("a", "5")}}
	lw := listWatch(store, "", nil, typedCopy, typedListCopy)
	obj, err := lw.List(metav1.ListOptions{LabelSelector: "app=x"})
	if err != nil {
		t.Fatal(err)
	}
	list := obj.(*corev1.PodList)
	store.pods[0].Labels["app"] = "changed in the cache"
	if got := list.Items[0]; got.Labels["app"] != "x" || got.Kind != "" || list.ResourceVersion != "10" {
		t.Errorf("listed %+v labels %v (list RV %s), want a copy with labels {app: x}, no type meta, RV 10",
			got.TypeMeta, got.Labels, list.ResourceVersion)
	}
	if o := store.recorded(); len(o) != 1 || o[0].LabelSelector.String() != "app=x" {
		t.Errorf("store saw %+v, want the label selector app=x", o)
	}

	meta, err := listWatch(store, "", nil, metadataCopy, metadataListCopy).List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ml := meta.(*metav1.PartialObjectMetadataList)
	if len(ml.Items) != 1 || ml.Items[0].Name != "a" || ml.ResourceVersion != "10" {
		t.Errorf("metadata list = %+v, want pod a at RV 10", ml)
	}
}

func TestShared_HandsOutTheSameFactory(t *testing.T) {
	f := NewFactory(fake.NewClientset(), 0, nil)
	if got := Shared(f)(fake.NewClientset(), time.Minute, func(*metav1.ListOptions) {}); got != f {
		t.Error("Shared made another factory; the component would not share informers")
	}
}
