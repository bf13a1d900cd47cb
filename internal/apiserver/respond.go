package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// restrictions tells the negotiator which transformations an endpoint
// allows: Table only where the resource has a table convertor, and
// PartialObjectMetadata(List) everywhere, as upstream's RequestScope.
type restrictions struct{ table bool }

func (e restrictions) AllowsMediaTypeTransform(mimeType, mimeSubType string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return true
	}
	if gvk.GroupVersion() != metav1.SchemeGroupVersion && gvk.GroupVersion() != metav1beta1.SchemeGroupVersion {
		return false
	}
	switch gvk.Kind {
	case "Table":
		return e.table && mimeType == "application" && (mimeSubType == "json" || mimeSubType == "yaml")
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}
func (restrictions) AllowsServerVersion(string) bool  { return false }
func (restrictions) AllowsStreamSchema(s string) bool { return s == "watch" }

// acceptedMediaTypes is what go-restful lists in its 406 message.
const acceptedMediaTypes = "application/json, application/yaml, application/vnd.kubernetes.protobuf"

// negotiate picks the response media type up front, so a request whose
// Accept header nothing can satisfy fails before any work, as go-restful's
// route matching does (details {}). An Accept that names a servable type but
// asks for an impossible transformation gets the handler's own 406.
func negotiate(r *http.Request, res *Resource) (negotiation.MediaTypeOptions, error) {
	mt, _, err := negotiation.NegotiateOutputMediaType(r, scheme.Codecs, restrictions{table: res.Store.TableConvertor() != nil})
	if err == nil {
		return mt, nil
	}
	if !restfulAccepts(r.Header.Get("Accept")) {
		return mt, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "",
			"406: Not Acceptable\n\nAvailable representations: "+acceptedMediaTypes, 0, false)
	}
	return mt, err
}

// restfulAccepts reports whether go-restful would route a request with this
// Accept header: empty, a wildcard, or one of the produced types.
func restfulAccepts(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch t {
		case "*/*", "application/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf":
			return true
		}
	}
	return false
}

// writeObject transforms obj as the negotiated media type asks (Table,
// PartialObjectMetadata) and writes it.
func writeObject(ctx context.Context, w http.ResponseWriter, r *http.Request, res *Resource, mt negotiation.MediaTypeOptions, code int, obj runtime.Object) error {
	if meta.IsListType(obj) && meta.LenList(obj) == 0 {
		// Empty lists encode as [] rather than null.
		if err := meta.SetList(obj, []runtime.Object{}); err != nil {
			return internalError(err)
		}
	}
	out, err := transform(ctx, r, res, mt, obj)
	if err != nil {
		return err
	}
	gv := res.GroupVersion
	ns := runtime.NegotiatedSerializer(scheme.Codecs)
	if mt.Convert != nil {
		gv = mt.Convert.GroupVersion()
		ns = metainternalversionscheme.Codecs
	}
	if _, ok := out.(*metav1.Status); !ok && !meta.IsListType(out) {
		// Objects may be shared with the watch cache; the encoder sets type
		// meta on what it encodes, so give it a private shallow copy.
		out = cacher.ShallowCopy(out)
	}
	responsewriters.WriteObjectNegotiated(ns, restrictions{table: true}, gv, w, r, code, out, false)
	return nil
}

func transform(ctx context.Context, r *http.Request, res *Resource, mt negotiation.MediaTypeOptions, obj runtime.Object) (runtime.Object, error) {
	if _, ok := obj.(*metav1.Status); ok || mt.Convert == nil {
		return obj, nil
	}
	switch mt.Convert.Kind {
	case "PartialObjectMetadata":
		if meta.IsListType(obj) {
			return nil, notAcceptable(fmt.Sprintf("you requested PartialObjectMetadata, but the requested object is a list (%T)", obj))
		}
		return partialMetadata(obj, mt.Convert.GroupVersion())
	case "PartialObjectMetadataList":
		return partialMetadataList(obj, mt.Convert.GroupVersion())
	case "Table":
		opts, err := tableOptions(r)
		if err != nil {
			return nil, err
		}
		return asTable(ctx, res.Store.TableConvertor(), obj, opts, mt.Convert.GroupVersion())
	}
	return nil, negotiation.NewNotAcceptableError([]string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"})
}

func tableOptions(r *http.Request) (*metav1.TableOptions, error) {
	opts := &metav1.TableOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if errs := validation.ValidateTableOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Unable to convert to Table as requested: %v", errs[0].Error()))
	}
	return opts, nil
}

// asTable renders obj with the resource's convertor, which applies
// opts.IncludeObject to the rows (generic.BuildTable).
func asTable(ctx context.Context, tc generic.TableConvertor, obj runtime.Object, opts *metav1.TableOptions, gv schema.GroupVersion) (runtime.Object, error) {
	table, err := tc.ConvertToTable(ctx, obj, opts)
	if err != nil {
		return nil, err
	}
	table.GetObjectKind().SetGroupVersionKind(gv.WithKind("Table"))
	return table, nil
}

func partialMetadata(obj runtime.Object, gv schema.GroupVersion) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, internalError(err)
	}
	p := meta.AsPartialObjectMetadata(m)
	p.GetObjectKind().SetGroupVersionKind(gv.WithKind("PartialObjectMetadata"))
	return p, nil
}

func partialMetadataList(obj runtime.Object, gv schema.GroupVersion) (runtime.Object, error) {
	li, ok := obj.(metav1.ListInterface)
	if !ok {
		return nil, notAcceptable(fmt.Sprintf("you requested PartialObjectMetadataList, but the requested object is not a list (%T)", obj))
	}
	list := &metav1.PartialObjectMetadataList{}
	err := meta.EachListItem(obj, func(item runtime.Object) error {
		p, err := partialMetadata(item, gv)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *p.(*metav1.PartialObjectMetadata))
		return nil
	})
	if err != nil {
		return nil, err
	}
	list.ResourceVersion = li.GetResourceVersion()
	list.Continue = li.GetContinue()
	list.RemainingItemCount = li.GetRemainingItemCount()
	list.GetObjectKind().SetGroupVersionKind(gv.WithKind("PartialObjectMetadataList"))
	return list, nil
}

type notAcceptableError struct{ msg string }

func notAcceptable(msg string) error       { return notAcceptableError{msg} }
func (e notAcceptableError) Error() string { return e.msg }
func (e notAcceptableError) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable, Message: e.msg}
}

func internalError(err error) error { return apierrors.NewInternalError(err) }

// writeError writes err as a metav1.Status in a negotiated encoding.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		err = apierrors.NewInternalError(err)
	}
	responsewriters.ErrorNegotiated(err, scheme.Codecs, schema.GroupVersion{Version: "v1"}, w, r)
}

// writeJSON writes a plain JSON body (version, health details).
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteStatus writes a Status object (a custom subresource's success).
func WriteStatus(w http.ResponseWriter, r *http.Request, st *metav1.Status, code int) error {
	responsewriters.WriteObjectNegotiated(scheme.Codecs, restrictions{}, schema.GroupVersion{Version: "v1"}, w, r, code, st, false)
	return nil
}
