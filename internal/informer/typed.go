package informer

import (
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/informers/batch"
	"k8s.io/client-go/informers/coordination"
	"k8s.io/client-go/informers/core"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// FactoryFunc makes a typed informer factory; tweak (may be nil) adjusts
// the list options of every informer, as informers.WithTweakListOptions.
type FactoryFunc func(client kubernetes.Interface, resync time.Duration, tweak func(*metav1.ListOptions)) informers.SharedInformerFactory

// NewFactory is client-go's own factory: informers that list and watch
// through client.
func NewFactory(client kubernetes.Interface, resync time.Duration, tweak func(*metav1.ListOptions)) informers.SharedInformerFactory {
	if tweak == nil {
		return informers.NewSharedInformerFactory(client, resync)
	}
	return informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTweakListOptions(tweak))
}

// Shared is a FactoryFunc that hands out f itself, for a component that
// shares another's informers; its resync and tweak are f's.
func Shared(f informers.SharedInformerFactory) FactoryFunc {
	return func(kubernetes.Interface, time.Duration, func(*metav1.ListOptions)) informers.SharedInformerFactory {
		return f
	}
}

// Factory is a FactoryFunc whose informers for the Source's resources read
// the watch cache; informers of other types use client. Start, Shutdown and
// the cache-sync waits are client-go's.
func (s *Source) Factory(client kubernetes.Interface, resync time.Duration, tweak func(*metav1.ListOptions)) informers.SharedInformerFactory {
	return &factory{SharedInformerFactory: NewFactory(client, resync, tweak), src: s, tweak: tweak}
}

// factory wraps client-go's factory. The group accessors are rebuilt on this
// wrapper so that every typed informer is created through its InformerFor.
type factory struct {
	informers.SharedInformerFactory
	src   *Source
	tweak func(*metav1.ListOptions)
}

var _ internalinterfaces.SharedInformerFactory = (*factory)(nil)

// InformerFor implements informers.SharedInformerFactory: for a type of the
// Source, the informer reads its store; client-go's factory keeps it, one per
// type, and starts it.
func (f *factory) InformerFor(obj runtime.Object, newFunc internalinterfaces.NewInformerFunc) cache.SharedIndexInformer {
	r, ok := f.src.byType[reflect.TypeOf(obj)]
	if !ok {
		return f.SharedInformerFactory.InformerFor(obj, newFunc)
	}
	return f.SharedInformerFactory.InformerFor(obj, func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		lw := listWatch(r.Store, metav1.NamespaceAll, f.tweak, typedCopy, typedListCopy)
		return newIndexInformer(lw, obj, resync)
	})
}

func (f *factory) Core() core.Interface { return core.New(f, metav1.NamespaceAll, f.tweak) }

func (f *factory) Batch() batch.Interface { return batch.New(f, metav1.NamespaceAll, f.tweak) }

func (f *factory) Coordination() coordination.Interface {
	return coordination.New(f, metav1.NamespaceAll, f.tweak)
}

// typedListCopy deep-copies a list from the store and clears the type meta
// of its items, as client-go's typed decoders leave them.
func typedListCopy(list runtime.Object) (runtime.Object, error) {
	out := list.DeepCopyObject()
	err := meta.EachListItem(out, func(item runtime.Object) error {
		item.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		return nil
	})
	return out, err
}
