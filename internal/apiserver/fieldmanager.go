package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// TypeConverterSource gives the structured-merge-diff type converter of the
// served kinds, waiting for it to be built if need be (ctx bounds the wait).
// It must be safe for concurrent use and return the same converter always.
type TypeConverterSource interface {
	TypeConverter(ctx context.Context) (managedfields.TypeConverter, error)
}

// fieldManagers holds one upstream FieldManager per store (the main
// resource and each store-backed subresource), built on first use from the
// shared type converter: managers are cheap, the converter is not.
type fieldManagers struct {
	source TypeConverterSource
	// byStore maps *generic.Store to *managedfields.FieldManager. A sync.Map:
	// every write reads it, and entries are only ever added.
	byStore sync.Map
	// mu serializes building, so that each manager is built once.
	mu sync.Mutex
}

// get returns the field manager of store, serving subresource ("" for the
// main resource).
func (f *fieldManagers) get(ctx context.Context, store *generic.Store, subresource string) (*managedfields.FieldManager, error) {
	if fm, ok := f.byStore.Load(store); ok {
		return fm.(*managedfields.FieldManager), nil
	}
	tc, err := f.source.TypeConverter(ctx)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.byStore.Load(store); ok {
		return fm.(*managedfields.FieldManager), nil
	}
	reset, err := resetFieldsFilter(store)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	kind := store.Kind()
	fm, err := managedfields.NewDefaultFieldManager(tc, scheme.Scheme, storeDefaulter{store}, scheme.Scheme, kind, kind.GroupVersion(), subresource, reset)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("field manager for %s: %w", store.Resource(), err))
	}
	f.byStore.Store(store, fm)
	return fm, nil
}

// resetFieldsFilter turns the strategy's reset fields into the filter the
// field manager ignores them with (upstream's installer does this with
// fieldpath.NewExcludeFilterSetMap(strategy.GetResetFields())).
func resetFieldsFilter(store *generic.Store) (map[fieldpath.APIVersion]fieldpath.Filter, error) {
	fields := store.ResetFields()
	if len(fields) == 0 {
		return nil, nil
	}
	set := fieldpath.NewSet()
	for _, f := range fields {
		parts := strings.Split(f, ".")
		elems := make([]any, 0, len(parts))
		for _, p := range parts {
			elems = append(elems, p)
		}
		path, err := fieldpath.MakePath(elems...)
		if err != nil {
			return nil, fmt.Errorf("reset field %q of %s: %w", f, store.Resource(), err)
		}
		set.Insert(path)
	}
	gv := fieldpath.APIVersion(store.Kind().GroupVersion().String())
	return fieldpath.NewExcludeFilterSetMap(map[fieldpath.APIVersion]*fieldpath.Set{gv: set}), nil
}

// storeDefaulter applies a store's defaults, as the scheme's defaulter does
// upstream for objects the field manager builds.
type storeDefaulter struct{ store *generic.Store }

func (d storeDefaulter) Default(obj runtime.Object) { d.store.Default(obj) }

// managerOrUserAgent is upstream's: the fieldManager parameter, or the
// User-Agent's product name.
func managerOrUserAgent(manager, userAgent string) string {
	if manager != "" {
		return manager
	}
	return prefixFromUserAgent(userAgent)
}

// prefixFromUserAgent is upstream's: the characters before the first "/",
// printable ones only, cut to the manager name limit.
func prefixFromUserAgent(u string) string {
	m, _, _ := strings.Cut(u, "/")
	var buf bytes.Buffer
	for _, r := range m {
		if !unicode.IsPrint(r) {
			continue
		}
		if buf.Len()+utf8.RuneLen(r) > validation.FieldManagerMaxLength {
			break
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// trackUpdate records the request's manager as the owner of what it changed
// from live to obj (a create passes an empty live object), as upstream's
// handlers do with FieldManager.UpdateNoErrors before storing.
//
// One difference, on purpose: an object is tracked from its first apply,
// not from its creation. kube-apiserver's field manager tracks every create
// (the library's DefaultTrackOnCreateProbability is 1); building the typed
// value of every new object cost a quarter of Skiff's write throughput
// (docs/benchmarks.md). With the library's other setting, probability 0,
// a create without managedFields stays untracked, later updates of it are
// skipped by the library itself (as upstream skips any untracked object),
// and the first apply assigns the existing fields to "before-first-apply",
// so conflicts with them are still reported.
func (s *Server) trackUpdate(ctx context.Context, req *Request, live, obj runtime.Object, manager string) (runtime.Object, error) {
	if untrackedCreate(live, obj) {
		return obj, nil
	}
	fm, err := s.fields.get(ctx, req.store(), req.Info.Subresource)
	if err != nil {
		return nil, err
	}
	return fm.UpdateNoErrors(live, obj, manager), nil
}

// untrackedCreate reports a create (live has no UID) of an object that
// carries no managedFields: the library with a track-on-create probability
// of 0 leaves it alone.
func untrackedCreate(live, obj runtime.Object) bool {
	l, err1 := meta.Accessor(live)
	o, err2 := meta.Accessor(obj)
	return err1 == nil && err2 == nil && l.GetUID() == "" && len(o.GetManagedFields()) == 0
}
