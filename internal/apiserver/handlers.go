package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// store returns the store a verb acts on: the subresource's, or the main one.
func (req *Request) store() *generic.Store {
	if req.Sub != nil && req.Sub.Store != nil {
		return req.Sub.Store
	}
	return req.Resource.Store
}

func mustMeta(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return m, nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	opts := metav1.GetOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	obj, err := req.store().Get(r.Context(), req.Namespace, req.Name, opts)
	if err != nil {
		return err
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, http.StatusOK, obj)
}

// listOptions decodes and validates list and watch parameters.
func listOptions(r *http.Request, res *Resource) (*metainternalversion.ListOptions, error) {
	opts := &metainternalversion.ListOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if errs := metainternalversionvalidation.ValidateListOptions(opts, true); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	if opts.FieldSelector != nil {
		supported := res.fieldLabels()
		fs, err := opts.FieldSelector.Transform(func(label, value string) (string, string, error) {
			if !supported[label] {
				return "", "", fmt.Errorf("field label not supported: %s", label)
			}
			return label, value, nil
		})
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		opts.FieldSelector = fs
	}
	return opts, nil
}

// fieldLabels are the fields a resource can be selected by: those its
// attribute function reports for an empty object.
func (r *Resource) fieldLabels() map[string]bool {
	_, f, err := r.Store.Attrs(r.Store.New())
	out := map[string]bool{}
	if err != nil {
		return out
	}
	for k := range f {
		out[k] = true
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	opts, err := listOptions(r, req.Resource)
	if err != nil {
		return err
	}
	if opts.Watch {
		return s.watch(w, r, req)
	}
	obj, err := req.store().List(r.Context(), req.Namespace, opts)
	if err != nil {
		return err
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, http.StatusOK, obj)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	opts := metav1.CreateOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := validation.ValidateCreateOptions(&opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "CreateOptions"}, "", errs)
	}
	directive, err := fieldValidation(opts.FieldValidation)
	if err != nil {
		return err
	}
	store := req.Resource.Store
	obj, err := s.decodeObject(r, store.New(), store.Kind(), directive)
	if err != nil {
		return err
	}
	store.Default(obj)
	ctx, cancel := withStorageTimeout(r.Context())
	defer cancel()
	if obj, err = s.trackUpdate(ctx, req, store.New(), obj, managerOrUserAgent(opts.FieldManager, r.UserAgent())); err != nil {
		return err
	}
	out, err := store.Create(ctx, req.Namespace, obj, generic.CreateOptions{DryRun: len(opts.DryRun) > 0})
	if err != nil {
		return err
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, http.StatusCreated, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	opts := metav1.UpdateOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := validation.ValidateUpdateOptions(&opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "UpdateOptions"}, "", errs)
	}
	directive, err := fieldValidation(opts.FieldValidation)
	if err != nil {
		return err
	}
	store := req.store()
	obj, err := s.decodeObject(r, store.New(), store.Kind(), directive)
	if err != nil {
		return err
	}
	if err := checkName(obj, req); err != nil {
		return err
	}
	store.Default(obj)
	ctx, cancel := withStorageTimeout(r.Context())
	defer cancel()
	manager := managerOrUserAgent(opts.FieldManager, r.UserAgent())
	out, created, err := store.Update(ctx, req.Namespace, req.Name, func(ctx context.Context, current runtime.Object) (runtime.Object, error) {
		if current == nil { // create on update
			current = store.New()
		}
		return s.trackUpdate(ctx, req, current, obj.DeepCopyObject(), manager)
	}, generic.UpdateOptions{DryRun: len(opts.DryRun) > 0})
	if err != nil {
		return err
	}
	if req.Sub != nil && req.Sub.AfterUpdate != nil && len(opts.DryRun) == 0 {
		if err := req.Sub.AfterUpdate(ctx, out); err != nil {
			return err
		}
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, code, out)
}

// withFieldSelectorName restricts a named watch to its object.
func withFieldSelectorName(opts *metainternalversion.ListOptions, name string) error {
	nameSel := fields.OneTermEqualSelector("metadata.name", name)
	if opts.FieldSelector == nil || opts.FieldSelector.Empty() {
		opts.FieldSelector = nameSel
		return nil
	}
	if v, ok := opts.FieldSelector.RequiresExactMatch("metadata.name"); ok && v != name {
		return apierrors.NewBadRequest(fmt.Sprintf("fieldSelector metadata.name doesn't match requested name: %q != %q", v, name))
	}
	opts.FieldSelector = fields.AndSelectors(opts.FieldSelector, nameSel)
	return nil
}

// requestTimeoutUpperBound caps how long a mutating request may work on
// storage, as upstream's handlers do (34s), or less if the request's own
// deadline is sooner.
const requestTimeoutUpperBound = 34 * time.Second

func withStorageTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeoutUpperBound)
}
