// Package informer gives the components that run inside `skiff serve` (the
// controllers, the scheduler, the node agent) client-go informers that read
// the API server's watch cache directly.
//
// Over the loopback client, every change to a Pod reached each of those
// components as bytes: encoded by the server, written through an in-memory
// pipe, read and decoded again, once per component. Here the informer gets a
// deep copy of the cached object instead, through the same store the HTTP
// handlers use (selectors, resourceVersion semantics, watch-list, 410s), so
// the components keep their client-go informers, listers and event handlers
// and own their objects as before. Writes still go through the API.
//
// Reads this way skip the HTTP handler chain: they are neither authorized
// nor counted in /metrics or the audit log. Only components built into the
// server get them, each of which may read what it reads here.
//
//	src := informer.NewSource(resources)
//	factory := src.Factory(client, 0, nil)             // informers.SharedInformerFactory
//	metaFactory := src.MetadataFactory(metaClient, 0)  // metadatainformer.SharedInformerFactory
package informer

import (
	"context"
	"fmt"
	"reflect"
	"time"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Store is what an informer reads: the list and watch of a resource's
// generic store (*generic.Store).
type Store interface {
	List(ctx context.Context, namespace string, opts *metainternalversion.ListOptions) (runtime.Object, error)
	Watch(ctx context.Context, namespace string, opts *metainternalversion.ListOptions) (watch.Interface, error)
}

// Resource is one resource a Source serves.
type Resource struct {
	GVR schema.GroupVersionResource
	// Object is an empty object of the resource's Go type (&corev1.Pod{}).
	Object runtime.Object
	Store  Store
}

// Source makes informers over the stores of the resources given to it.
type Source struct {
	byType map[reflect.Type]Resource
	byGVR  map[schema.GroupVersionResource]Resource
}

// NewSource indexes resources by Go type and by group, version and resource.
func NewSource(resources []Resource) *Source {
	s := &Source{byType: map[reflect.Type]Resource{}, byGVR: map[schema.GroupVersionResource]Resource{}}
	for _, r := range resources {
		s.byType[reflect.TypeOf(r.Object)] = r
		s.byGVR[r.GVR] = r
	}
	return s
}

// convertFunc turns an object of the cache (shared: never modified) into
// the informer's own object.
type convertFunc func(runtime.Object) (runtime.Object, error)

// listWatch lists and watches store in namespace ("" for all), with tweak
// applied to the options as client-go's informers do, converting every
// object with convert and every list with convertList.
func listWatch(store Store, namespace string, tweak func(*metav1.ListOptions), convert convertFunc, convertList func(runtime.Object) (runtime.Object, error)) *cache.ListWatch {
	internal := func(opts metav1.ListOptions) (*metainternalversion.ListOptions, error) {
		if tweak != nil {
			tweak(&opts)
		}
		var out metainternalversion.ListOptions
		if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&opts, &out, nil); err != nil {
			return nil, fmt.Errorf("list options: %w", err)
		}
		return &out, nil
	}
	list := func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		in, err := internal(opts)
		if err != nil {
			return nil, err
		}
		l, err := store.List(ctx, namespace, in)
		if err != nil {
			return nil, err
		}
		return convertList(l)
	}
	watchFn := func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		in, err := internal(opts)
		if err != nil {
			return nil, err
		}
		w, err := store.Watch(ctx, namespace, in)
		if err != nil {
			return nil, err
		}
		return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
			if ev.Type == watch.Error {
				return ev, true // a *metav1.Status made for this watch
			}
			obj, err := convert(ev.Object)
			if err != nil {
				st := metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500}
				return watch.Event{Type: watch.Error, Object: &st}, true
			}
			ev.Object = obj
			return ev, true
		}), nil
	}
	return &cache.ListWatch{
		ListFunc:             func(opts metav1.ListOptions) (runtime.Object, error) { return list(context.Background(), opts) },
		WatchFunc:            func(opts metav1.ListOptions) (watch.Interface, error) { return watchFn(context.Background(), opts) },
		ListWithContextFunc:  list,
		WatchFuncWithContext: watchFn,
	}
}

// unwrap returns the object behind the watch cache's encode-once wrapper.
func unwrap(obj runtime.Object) runtime.Object {
	if co, ok := obj.(runtime.CacheableObject); ok {
		return co.GetObject()
	}
	return obj
}

// typedCopy is the informer's own copy of a cached object, with its type
// meta cleared as client-go's typed decoders leave it.
func typedCopy(obj runtime.Object) (runtime.Object, error) {
	out := unwrap(obj).DeepCopyObject()
	out.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return out, nil
}

// newIndexInformer builds a shared informer over lw with the namespace index
// that client-go's generated informers and listers use.
func newIndexInformer(lw cache.ListerWatcher, example runtime.Object, resync time.Duration) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{
		ResyncPeriod: resync,
		Indexers:     cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
	})
}
