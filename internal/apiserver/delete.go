package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/warning"
)

// deleteOptions reads DeleteOptions the way upstream does: from the body if
// the body is non-empty (the query string is then ignored entirely, dryRun
// included), otherwise from the query string (where preconditions cannot be
// given). Decoding failures are 400; invalid combinations 422.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	options := &metav1.DeleteOptions{}
	body, err := readBody(r, s.cfg.MaxRequestBodyBytes)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		info, err := negotiation.NegotiateInputSerializer(r, false, metainternalversionscheme.Codecs)
		if err != nil {
			return nil, err
		}
		defaultGVK := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := metainternalversionscheme.Codecs.DecoderToVersion(info.Serializer, defaultGVK.GroupVersion()).Decode(body, &defaultGVK, options)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if obj != options {
			return nil, apierrors.NewBadRequest("decoded object cannot be converted to DeleteOptions")
		}
	} else if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, options); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if errs := validation.ValidateDeleteOptions(options); len(errs) > 0 {
		return nil, invalidDeleteOptions(errs)
	}
	return options, nil
}

func invalidDeleteOptions(errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, req *Request) error {
	ctx, cancel := withStorageTimeout(r.Context())
	defer cancel()
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	options, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	s.addDeleteWarning(r, req.Resource, options)
	del := req.Resource.Store.Delete
	if req.Resource.Delete != nil {
		del = req.Resource.Delete
	}
	obj, deleted, err := del(ctx, req.Namespace, req.Name, options)
	if err != nil {
		return err
	}
	code := http.StatusOK
	// Upstream answers 202 only for an explicit orphanDependents=false
	// that did not delete the object yet.
	if !deleted && options.OrphanDependents != nil && !*options.OrphanDependents {
		code = http.StatusAccepted
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, code, obj)
}

func (s *Server) addDeleteWarning(r *http.Request, res *Resource, options *metav1.DeleteOptions) {
	if res.DeleteWarning == nil {
		return
	}
	if msg := res.DeleteWarning(options); msg != "" {
		warning.AddWarning(r.Context(), "", msg)
	}
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	listOpts, err := listOptions(r, req.Resource)
	if err != nil {
		return err
	}
	options, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	if options.IgnoreStoreReadErrorWithClusterBreakingPotential != nil && *options.IgnoreStoreReadErrorWithClusterBreakingPotential {
		return invalidDeleteOptions(field.ErrorList{field.Invalid(field.NewPath("ignoreStoreReadErrorWithClusterBreakingPotential"), true, "is not allowed with DELETECOLLECTION, try again after removing the option")})
	}
	s.addDeleteWarning(r, req.Resource, options)
	var obj runtime.Object
	obj, err = req.Resource.Store.DeleteCollection(r.Context(), req.Namespace, options, listOpts)
	if err != nil {
		return err
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, http.StatusOK, obj)
}
