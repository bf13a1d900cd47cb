package informer

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/metadata/metadatalister"
	"k8s.io/client-go/tools/cache"
)

// partialObjectMetadataKind is what the API server sends for
// `as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.
var partialObjectMetadataKind = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")

// MetadataFactory is a metadatainformer.SharedInformerFactory whose
// informers for the Source's resources read the watch cache and hold
// PartialObjectMetadata, as the metadata client's informers do; other
// resources are listed and watched through client.
func (s *Source) MetadataFactory(client metadata.Interface, resync time.Duration) metadatainformer.SharedInformerFactory {
	return &metadataFactory{
		src: s, resync: resync, fallback: metadatainformer.NewSharedInformerFactory(client, resync),
		informers: map[schema.GroupVersionResource]informers.GenericInformer{},
		started:   map[schema.GroupVersionResource]bool{},
	}
}

type metadataFactory struct {
	src      *Source
	resync   time.Duration
	fallback metadatainformer.SharedInformerFactory

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]informers.GenericInformer
	started   map[schema.GroupVersionResource]bool
	wg        sync.WaitGroup
	shutdown  bool
}

// ForResource implements metadatainformer.SharedInformerFactory.
func (f *metadataFactory) ForResource(gvr schema.GroupVersionResource) informers.GenericInformer {
	r, ok := f.src.byGVR[gvr]
	if !ok {
		return f.fallback.ForResource(gvr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.informers[gvr]; ok {
		return inf
	}
	lw := listWatch(r.Store, metav1.NamespaceAll, nil, metadataCopy, metadataListCopy)
	inf := &genericInformer{informer: newIndexInformer(lw, &metav1.PartialObjectMetadata{}, f.resync), gvr: gvr}
	f.informers[gvr] = inf
	return inf
}

// Start implements metadatainformer.SharedInformerFactory.
func (f *metadataFactory) Start(stopCh <-chan struct{}) {
	f.fallback.Start(stopCh)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutdown {
		return
	}
	for gvr, inf := range f.informers {
		if f.started[gvr] {
			continue
		}
		f.started[gvr] = true
		f.wg.Go(func() { inf.Informer().Run(stopCh) })
	}
}

// WaitForCacheSync implements metadatainformer.SharedInformerFactory.
func (f *metadataFactory) WaitForCacheSync(stopCh <-chan struct{}) map[schema.GroupVersionResource]bool {
	res := f.fallback.WaitForCacheSync(stopCh)
	f.mu.Lock()
	started := map[schema.GroupVersionResource]cache.SharedIndexInformer{}
	for gvr, inf := range f.informers {
		if f.started[gvr] {
			started[gvr] = inf.Informer()
		}
	}
	f.mu.Unlock()
	for gvr, inf := range started {
		res[gvr] = cache.WaitForCacheSync(stopCh, inf.HasSynced)
	}
	return res
}

// Shutdown implements metadatainformer.SharedInformerFactory: it waits for
// the informers, whose stop channels must be closed.
func (f *metadataFactory) Shutdown() {
	f.mu.Lock()
	f.shutdown = true
	f.mu.Unlock()
	f.wg.Wait()
	f.fallback.Shutdown()
}

type genericInformer struct {
	informer cache.SharedIndexInformer
	gvr      schema.GroupVersionResource
}

func (i *genericInformer) Informer() cache.SharedIndexInformer { return i.informer }

func (i *genericInformer) Lister() cache.GenericLister {
	return metadatalister.NewRuntimeObjectShim(metadatalister.New(i.informer.GetIndexer(), i.gvr))
}

// metadataCopy is the PartialObjectMetadata of a cached object, with its
// own copy of the metadata.
func metadataCopy(obj runtime.Object) (runtime.Object, error) {
	m, err := meta.Accessor(unwrap(obj))
	if err != nil {
		return nil, err
	}
	p := meta.AsPartialObjectMetadata(m).DeepCopy()
	p.SetGroupVersionKind(partialObjectMetadataKind)
	return p, nil
}

func metadataListCopy(list runtime.Object) (runtime.Object, error) {
	li, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	out := &metav1.PartialObjectMetadataList{}
	err = meta.EachListItem(list, func(item runtime.Object) error {
		p, err := metadataCopy(item)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, *p.(*metav1.PartialObjectMetadata))
		return nil
	})
	out.ResourceVersion, out.Continue, out.RemainingItemCount = li.GetResourceVersion(), li.GetContinue(), li.GetRemainingItemCount()
	out.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"))
	return out, err
}
