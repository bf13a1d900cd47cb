// Package generic is Skiff's one implementation of every verb over the
// storage layer: create, get, list, watch, update (and patch, which is an
// update with a transform), delete with graceful deletion, finalizers,
// preconditions and dry-run, and deletecollection. Resources contribute only a
// Strategy and a few functions (see strategy.go), as upstream's registry
// pattern does.
//
//	jobs, _ := generic.NewStore(generic.StoreConfig{
//		Resource: batchv1.Resource("jobs"), Kind: batchv1.SchemeGroupVersion.WithKind("Job"),
//		NewFunc: func() runtime.Object { return &batchv1.Job{} }, ...
//	})
//	obj, err := jobs.Create(ctx, "default", job, generic.CreateOptions{})
package generic

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// StoreConfig describes one resource endpoint.
type StoreConfig struct {
	// Resource is the group and plural name ("jobs" in "batch"). Required.
	Resource schema.GroupResource
	// Kind is the served and stored kind (batch/v1 Job). Required.
	Kind schema.GroupVersionKind
	// NewFunc and NewListFunc make empty objects. Required.
	NewFunc     func() runtime.Object
	NewListFunc func() runtime.Object
	// Strategy is the resource's behaviour on the main endpoint. Required.
	Strategy Strategy
	// Defaulter applies upstream defaults to a decoded object (request bodies
	// and reads from storage). Optional.
	Defaulter func(obj runtime.Object)
	// AttrFunc gives labels and selectable fields. Default: metadata.name and
	// metadata.namespace only.
	AttrFunc AttrFunc
	// TableConvertor renders tables; default: NAME, CREATED AT.
	TableConvertor TableConvertor
	// ReturnDeletedObject makes an immediate delete answer with the object
	// instead of a Status (pods).
	ReturnDeletedObject bool
	// Mutate, optional, is a resource's mutating admission on create (pods:
	// service account, priority, default tolerations). It runs after
	// namespace admission and before the strategy, as upstream's mutating
	// plugins run before rest.BeforeCreate. Its error is returned as it is.
	Mutate func(ctx context.Context, obj runtime.Object) error
	// Admit, optional, is a resource's own admission check after
	// validation, on create (old nil) and update (RBAC escalation
	// prevention). Its error is returned as it is.
	Admit func(ctx context.Context, obj, old runtime.Object) error
	// ShouldDeleteDuringUpdate, optional, adds a resource's own condition to
	// "an update that leaves no finalizers on a deleting object deletes it"
	// (namespaces also need spec.finalizers empty).
	ShouldDeleteDuringUpdate func(obj runtime.Object) bool
	// KeyRoot is the storage prefix, "/jobs". Default "/"+Resource.Resource,
	// with the group for non-core groups only when needed to stay unique.
	KeyRoot string

	// Storage and Hub are shared by all stores. Required.
	Storage storage.Interface
	Hub     *cacher.Hub
	// Namespaces checks that a namespace exists and accepts new content.
	// Required for namespaced resources.
	Namespaces NamespaceLifecycle
	Logger     *slog.Logger
}

// NamespaceLifecycle is the admission check upstream's NamespaceLifecycle
// plugin does on create.
type NamespaceLifecycle interface {
	// AdmitCreate returns a NotFound error if namespace does not exist and a
	// Forbidden error if it is terminating.
	AdmitCreate(ctx context.Context, gr schema.GroupResource, namespace, name string) error
}

// Store serves one resource. Status subresources use a copy made by
// WithStrategy, sharing storage and cache.
type Store struct {
	cfg        StoreConfig
	namespaced bool
	cache      *cacher.Cache
	codec      runtime.Codec
	logger     *slog.Logger
}

// NewStore validates cfg and registers the resource with the watch cache.
// It must be called before cfg.Hub runs.
func NewStore(cfg StoreConfig) (*Store, error) {
	switch {
	case cfg.Resource.Resource == "":
		return nil, fmt.Errorf("store: Resource is required")
	case cfg.Kind.Kind == "" || cfg.NewFunc == nil || cfg.NewListFunc == nil:
		return nil, fmt.Errorf("store %s: Kind, NewFunc and NewListFunc are required", cfg.Resource)
	case cfg.Strategy == nil || cfg.Storage == nil || cfg.Hub == nil:
		return nil, fmt.Errorf("store %s: Strategy, Storage and Hub are required", cfg.Resource)
	case cfg.Strategy.NamespaceScoped() && cfg.Namespaces == nil:
		return nil, fmt.Errorf("store %s: Namespaces is required for a namespaced resource", cfg.Resource)
	}
	if cfg.KeyRoot == "" {
		cfg.KeyRoot = "/" + cfg.Resource.Resource
	}
	if cfg.AttrFunc == nil {
		cfg.AttrFunc = DefaultAttrs
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{
		cfg:        cfg,
		namespaced: cfg.Strategy.NamespaceScoped(),
		logger:     cfg.Logger.With("resource", cfg.Resource.String()),
	}
	// Objects are stored as protobuf, as kube-apiserver does for built-in
	// types: smaller and several times faster to decode than JSON.
	ps := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	s.codec = scheme.Codecs.CodecForVersions(ps, ps, cfg.Kind.GroupVersion(), cfg.Kind.GroupVersion())
	s.cache = cfg.Hub.Register(cfg.KeyRoot+"/", s.decode, cacher.AttrFunc(cfg.AttrFunc))
	return s, nil
}

// WithStrategy returns a store for a subresource of the same objects (the
// /status endpoint) that updates with strategy.
func (s *Store) WithStrategy(strategy Strategy) *Store {
	c := *s
	c.cfg.Strategy = strategy
	return &c
}

// ResetFields returns the field paths ("status", "metadata.ownerReferences")
// that the store's strategy ignores on update, or nil.
func (s *Store) ResetFields() []string {
	if r, ok := s.cfg.Strategy.(ResetFieldsStrategy); ok {
		return r.ResetFields()
	}
	return nil
}

// Resource returns the group resource served.
func (s *Store) Resource() schema.GroupResource { return s.cfg.Resource }

// Kind returns the served kind.
func (s *Store) Kind() schema.GroupVersionKind { return s.cfg.Kind }

// Namespaced reports whether objects live in namespaces.
func (s *Store) Namespaced() bool { return s.namespaced }

// New returns an empty object of the resource's kind.
func (s *Store) New() runtime.Object { return s.cfg.NewFunc() }

// CacheGeneration changes whenever the store's watch cache does: what is
// derived from cached reads stays current while it returns the same value
// (see cacher.Cache.Generation).
func (s *Store) CacheGeneration() uint64 { return s.cache.Generation() }

// NewList returns an empty list of the resource's kind.
func (s *Store) NewList() runtime.Object { return s.cfg.NewListFunc() }

// Default applies the resource's defaults to obj.
func (s *Store) Default(obj runtime.Object) {
	if s.cfg.Defaulter != nil {
		s.cfg.Defaulter(obj)
	}
}

// Attrs returns the labels and selectable fields of obj.
func (s *Store) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) { return s.cfg.AttrFunc(obj) }

// TableConvertor returns the resource's table renderer, or nil.
func (s *Store) TableConvertor() TableConvertor { return s.cfg.TableConvertor }

// key returns the storage key of an object, validating the name as upstream's
// NamespaceKeyFunc does (400 on "." "..", "/", "%"; namespace required).
func (s *Store) key(namespace, name string) (string, error) {
	if s.namespaced && namespace == "" {
		return "", apierrors.NewBadRequest("Namespace parameter required.")
	}
	if name == "" {
		return "", apierrors.NewBadRequest("Name parameter required.")
	}
	if msgs := path.IsValidPathSegmentName(name); len(msgs) != 0 {
		return "", apierrors.NewBadRequest(fmt.Sprintf("Name parameter invalid: %q: %s", name, msgs[0]))
	}
	if s.namespaced {
		return s.cfg.KeyRoot + "/" + namespace + "/" + name, nil
	}
	return s.cfg.KeyRoot + "/" + name, nil
}

// prefix returns the key prefix of a namespace, or of everything.
func (s *Store) prefix(namespace string) string {
	if s.namespaced && namespace != "" {
		return s.cfg.KeyRoot + "/" + namespace + "/"
	}
	return s.cfg.KeyRoot + "/"
}

// decode turns stored bytes into a defaulted object at revision rev.
func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.cfg.NewFunc()
	out, _, err := s.codec.Decode(data, nil, obj)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", s.cfg.Kind.Kind, err)
	}
	if out != obj {
		return nil, fmt.Errorf("decoding %s: got %T", s.cfg.Kind.Kind, out)
	}
	s.Default(obj)
	// Stored objects carry no resourceVersion and no type meta; both are
	// set on the way out.
	if err := setResourceVersion(obj, rev); err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return obj, nil
}

// encode serializes obj for storage without its resourceVersion.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	var buf bytes.Buffer
	if err := s.codec.Encode(obj, &buf); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encoding %s: %w", s.cfg.Kind.Kind, err))
	}
	// The versioning encoder sets type meta on obj; clear it again so
	// objects in memory look the same whichever path they came through.
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return buf.Bytes(), nil
}

func setResourceVersion(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if rev == 0 {
		m.SetResourceVersion("")
	} else {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return nil
}

func revisionOf(obj runtime.Object) int64 {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	return rv
}

// Get returns the object. resourceVersion "0" may be served from the watch
// cache; anything else is a consistent read from etcd.
func (s *Store) Get(ctx context.Context, namespace, name string, opts metav1.GetOptions) (runtime.Object, error) {
	key, err := s.key(namespace, name)
	if err != nil {
		return nil, err
	}
	if opts.ResourceVersion == "0" {
		if obj, _, ok := s.cache.Get(key); ok {
			return obj, nil
		}
		return nil, apierrors.NewNotFound(s.cfg.Resource, name)
	}
	obj, _, err := s.read(ctx, key, name)
	return obj, err
}

// read gets and decodes a key from etcd.
func (s *Store) read(ctx context.Context, key, name string) (runtime.Object, []byte, error) {
	kv, err := s.cfg.Storage.Get(ctx, key)
	if err != nil {
		return nil, nil, s.interpretGetError(err, name)
	}
	obj, err := s.decode(kv.Value, kv.Revision)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	return obj, kv.Value, nil
}
