package generic

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/apiserver/pkg/warning"

	"github.com/skiff-sh/skiff/internal/storage"
)

// CreateOptions are the create parameters the store acts on.
type CreateOptions struct {
	// DryRun validates and returns the object without persisting it.
	DryRun bool
}

// generateNameAttempts is how often a generateName create retries on a
// name clash, as upstream does since RetryGenerateName went GA.
const generateNameAttempts = 8

// Create stores a new object in namespace (ignored for cluster-scoped
// resources). obj is consumed: the caller must not use it afterwards.
func (s *Store) Create(ctx context.Context, namespace string, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	generate := m.GetName() == "" && m.GetGenerateName() != ""
	for attempt := 1; ; attempt++ {
		if generate {
			m.SetName(names.SimpleNameGenerator.GenerateName(m.GetGenerateName()))
		}
		out, err := s.create(ctx, namespace, obj, m, opts)
		if generate && apierrors.IsAlreadyExists(err) && attempt < generateNameAttempts {
			continue
		}
		return out, err
	}
}

func (s *Store) create(ctx context.Context, namespace string, obj runtime.Object, m metav1.Object, opts CreateOptions) (runtime.Object, error) {
	if m.GetResourceVersion() != "" {
		return nil, apierrors.NewInternalError(errors.New("resourceVersion should not be set on objects to be created"))
	}
	if err := s.beforeCreate(withDryRun(ctx, opts.DryRun), namespace, obj, m); err != nil {
		return nil, err
	}
	key, err := s.key(m.GetNamespace(), m.GetName())
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		// A dry run still answers 409 for a taken name.
		if _, err := s.cfg.Storage.Get(ctx, key); err == nil {
			return nil, apierrors.NewAlreadyExists(s.cfg.Resource, m.GetName())
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, s.interpretGetError(err, m.GetName())
		}
		return obj, nil
	}
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	rev, err := s.cfg.Storage.Create(ctx, key, data)
	if err != nil {
		return nil, s.interpretCreateError(err, m.GetName())
	}
	if err := setResourceVersion(obj, rev); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

// beforeCreate is upstream's rest.BeforeCreate with namespace admission:
// system fields, namespace match, admission, strategy preparation,
// validation and warnings.
func (s *Store) beforeCreate(ctx context.Context, namespace string, obj runtime.Object, m metav1.Object) error {
	rest.FillObjectMetaSystemFields(m)
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	if !s.namespaced {
		namespace = metav1.NamespaceNone
	}
	if err := rest.EnsureObjectNamespaceMatchesRequestNamespace(namespace, m); err != nil {
		return err
	}
	if s.namespaced {
		// Upstream's NamespaceLifecycle is a mutating admission plugin, so it
		// answers before validation does.
		if err := s.cfg.Namespaces.AdmitCreate(ctx, s.cfg.Resource, namespace, m.GetName()); err != nil {
			return err
		}
	}
	if s.cfg.Mutate != nil {
		if err := s.cfg.Mutate(ctx, obj); err != nil {
			return err
		}
	}
	s.cfg.Strategy.PrepareForCreate(ctx, obj)
	errs := s.cfg.Strategy.Validate(ctx, obj)
	if len(errs) == 0 {
		// Upstream runs the generic metadata rules after the strategy's, so
		// the strategy's more specific messages win.
		errs = apimachineryvalidation.ValidateObjectMetaAccessor(m, s.namespaced, path.ValidatePathSegmentName, field.NewPath("metadata"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.cfg.Kind.GroupKind(), m.GetName(), errs)
	}
	if s.cfg.Admit != nil {
		if err := s.cfg.Admit(ctx, obj, nil); err != nil {
			return err
		}
	}
	for _, w := range s.cfg.Strategy.WarningsOnCreate(ctx, obj) {
		warning.AddWarning(ctx, "", w)
	}
	return nil
}

// mustAccessor is for objects the store made itself.
func mustAccessor(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("object %T has no metadata: %w", obj, err))
	}
	return m, nil
}
