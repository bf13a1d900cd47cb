package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/warning"
	kjson "sigs.k8s.io/json"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// maxJSONPatchOperations is upstream's cap on JSON patch operations.
const maxJSONPatchOperations = 10000

func (s *Server) patch(w http.ResponseWriter, r *http.Request, req *Request) error {
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	pt := types.PatchType(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
			"server-side apply is not supported by Skiff yet; use client-side apply (kubectl apply without --server-side) or a JSON, merge or strategic-merge patch", 0, false)
	default:
		// go-restful's answer: PATCH routes consume only the patch types.
		return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false)
	}
	opts := metav1.PatchOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := validation.ValidatePatchOptions(&opts, pt); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	directive, err := fieldValidation(opts.FieldValidation)
	if err != nil {
		return err
	}
	body, err := readBody(r, s.cfg.MaxRequestBodyBytes)
	if err != nil {
		return err
	}
	store := req.store()
	p := &patcher{store: store, patchType: pt, patch: body, directive: directive, ctx: r.Context()}
	ctx, cancel := withStorageTimeout(r.Context())
	defer cancel()
	out, _, err := store.Update(ctx, req.Namespace, req.Name, p.apply, generic.UpdateOptions{DryRun: len(opts.DryRun) > 0})
	if err != nil {
		return err
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, http.StatusOK, out)
}

// patcher applies one patch to whatever the current object is on each
// attempt of the store's compare-and-swap loop.
type patcher struct {
	store     *generic.Store
	patchType types.PatchType
	patch     []byte
	directive string
	ctx       context.Context
}

func (p *patcher) apply(_ context.Context, current runtime.Object) (runtime.Object, error) {
	if current == nil {
		return nil, apierrors.NewNotFound(p.store.Resource(), "")
	}
	obj := p.store.New()
	if p.patchType == types.StrategicMergePatchType {
		if err := p.applyStrategic(current, obj); err != nil {
			return nil, err
		}
		p.store.Default(obj)
		return obj, nil
	}
	original, err := runtime.Encode(unstructuredJSON, current)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	patched, strictErrs, err := p.applyJSON(original)
	if err != nil {
		return nil, err
	}
	if err := p.decodeInto(patched, obj, strictErrs); err != nil {
		return nil, err
	}
	p.store.Default(obj)
	return obj, nil
}

// applyStrategic is upstream's strategicPatchObject: the patch is merged
// into the object's map form and converted back without a JSON round trip;
// strict-decoding problems are 422s on the field "patch".
func (p *patcher) applyStrategic(current, obj runtime.Object) error {
	originalMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	patchMap := map[string]any{}
	var strictErrs []error
	validate := p.directive != metav1.FieldValidationIgnore
	if validate {
		strictErrs, err = kjson.UnmarshalStrict(p.patch, &patchMap)
	} else {
		err = kjson.UnmarshalCaseSensitivePreserveInts(p.patch, &patchMap)
	}
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	patchedMap, err := strategicpatch.StrategicMergeMapPatch(originalMap, patchMap, p.store.New())
	if err != nil {
		return interpretStrategicMergePatchError(err)
	}
	invalid := func(msg string) error {
		return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), fmt.Sprintf("%+v", patchMap), msg)})
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(patchedMap, obj, validate); err != nil {
		se, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict {
			return invalid(err.Error())
		}
		strictErrs = append(strictErrs, se.Errors()...)
	}
	if len(strictErrs) == 0 {
		return nil
	}
	if p.directive == metav1.FieldValidationStrict {
		return invalid(runtime.NewStrictDecodingError(strictErrs).Error())
	}
	for _, e := range strictErrs {
		warning.AddWarning(p.ctx, "", e.Error())
	}
	return nil
}

// unstructuredJSON encodes typed objects to JSON without type changes.
var unstructuredJSON = jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{})

func (p *patcher) applyJSON(original []byte) ([]byte, []error, error) {
	var strictErrs []error
	checkStrict := p.directive != metav1.FieldValidationIgnore
	switch p.patchType {
	case types.JSONPatchType:
		if checkStrict {
			var ops []struct {
				Op    string `json:"op"`
				Path  string `json:"path"`
				From  string `json:"from"`
				Value any    `json:"value"`
			}
			errs, err := kjson.UnmarshalStrict(p.patch, &ops)
			if err != nil {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
			}
			for _, e := range errs {
				strictErrs = append(strictErrs, fmt.Errorf("json patch %v", e))
			}
		}
		ops, err := jsonpatch.DecodePatch(p.patch)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(ops)))
		}
		out, err := ops.Apply(original)
		if err != nil {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, strictErrs, nil
	default: // merge patch
		if checkStrict {
			errs, err := kjson.UnmarshalStrict(p.patch, &map[string]any{})
			if err != nil {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
			}
			strictErrs = errs
		}
		out, err := jsonpatch.MergePatch(original, p.patch)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		return out, strictErrs, nil
	}
}

func interpretStrategicMergePatchError(err error) error {
	switch err {
	case mergepatch.ErrBadJSONDoc, mergepatch.ErrBadPatchFormatForPrimitiveList, mergepatch.ErrBadPatchFormatForRetainKeys,
		mergepatch.ErrBadPatchFormatForSetElementOrderList, mergepatch.ErrUnsupportedStrategicMergePatchFormat:
		return apierrors.NewBadRequest(err.Error())
	case mergepatch.ErrNoListOfLists, mergepatch.ErrPatchContentNotMatchRetainKeys:
		return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return apierrors.NewBadRequest(err.Error())
}

// decodeInto decodes the patched JSON once, as upstream's JSON patcher does:
// strict-decoding problems are 400s (Strict) or warnings (Warn); a document
// that does not fit the type is a 422 on the field "patch".
func (p *patcher) decodeInto(data []byte, obj runtime.Object, strictErrs []error) error {
	var err error
	if p.directive == metav1.FieldValidationIgnore {
		err = decodeLenient(data, obj)
	} else {
		_, _, err = strictJSON.Decode(data, nil, obj)
	}
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		strictErrs = append(strictErrs, se.Errors()...)
	} else if err != nil {
		return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(data), err.Error())})
	}
	if len(strictErrs) == 0 {
		return nil
	}
	switch p.directive {
	case metav1.FieldValidationStrict:
		return apierrors.NewBadRequest(runtime.NewStrictDecodingError(strictErrs).Error())
	case metav1.FieldValidationIgnore:
	default:
		for _, e := range strictErrs {
			warning.AddWarning(p.ctx, "", e.Error())
		}
	}
	return nil
}

var strictJSON = jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{Strict: true})

func decodeLenient(data []byte, obj runtime.Object) error {
	_, _, err := unstructuredJSON.Decode(data, nil, obj)
	return err
}
