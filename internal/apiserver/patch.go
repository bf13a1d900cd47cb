package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/yaml"
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
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
	default:
		// go-restful's answer: PATCH routes consume only the patch types
		// (apply-patch+cbor only with the CBORServingAndStorage alpha gate,
		// off by default in v1.37).
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
	if err := validatePatchBody(body, pt); err != nil {
		return err
	}
	ctx, cancel := withStorageTimeout(r.Context())
	defer cancel()
	store := req.store()
	fm, err := s.fields.get(ctx, store, req.Info.Subresource)
	if err != nil {
		return err
	}
	p := &patcher{
		store: store, req: req, patchType: pt, patch: body, directive: directive, ctx: r.Context(),
		fieldManager: fm, manager: managerOrUserAgent(opts.FieldManager, r.UserAgent()), force: opts.Force != nil && *opts.Force,
	}
	uopts := generic.UpdateOptions{DryRun: len(opts.DryRun) > 0, ForceAllowCreate: pt == types.ApplyYAMLPatchType}
	out, created, err := store.Update(ctx, req.Namespace, req.Name, p.apply, uopts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return writeObject(r.Context(), w, r, req.Resource, mt, code, out)
}

// validatePatchBody is upstream's validateAndTranscodePatch: the patch must
// be JSON, or YAML for apply, before anything else looks at it.
func validatePatchBody(body []byte, pt types.PatchType) error {
	if pt == types.ApplyYAMLPatchType {
		if _, err := yaml.ToJSON(body); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("error encoding patch: %v", err))
		}
		return nil
	}
	if !json.Valid(body) {
		return apierrors.NewBadRequest("invalid JSON patch")
	}
	return nil
}

// patcher applies one patch to whatever the current object is on each
// attempt of the store's compare-and-swap loop, and records the request's
// manager in managedFields.
type patcher struct {
	store     *generic.Store
	req       *Request
	patchType types.PatchType
	patch     []byte
	directive string
	ctx       context.Context
	// fieldManager tracks managedFields; manager is the request's field
	// manager and force the apply's force option.
	fieldManager *managedfields.FieldManager
	manager      string
	force        bool
}

// apply is upstream's patcher.applyPatch: the patch mechanism, then the
// object's name and namespace must match the request's.
func (p *patcher) apply(_ context.Context, current runtime.Object) (runtime.Object, error) {
	var obj runtime.Object
	var err error
	if p.patchType == types.ApplyYAMLPatchType {
		obj, err = p.serverSideApply(current)
	} else {
		obj, err = p.mutate(current)
	}
	if err != nil {
		return nil, err
	}
	if current == nil {
		m, err := mustMeta(obj)
		if err != nil {
			return nil, err
		}
		if uid := m.GetUID(); uid != "" {
			return nil, apierrors.NewConflict(p.store.Resource(), p.req.Name, fmt.Errorf("uid mismatch: the provided object specified uid %s, and no existing object was found", uid))
		}
	}
	if err := checkName(obj, p.req); err != nil {
		return nil, err
	}
	return obj, nil
}

// mutate applies a JSON, merge or strategic-merge patch to the existing
// object and records the change as an Update by the manager.
func (p *patcher) mutate(current runtime.Object) (runtime.Object, error) {
	if current == nil {
		return nil, apierrors.NewNotFound(p.store.Resource(), p.req.Name)
	}
	var obj runtime.Object
	if p.patchType == types.StrategicMergePatchType {
		var err error
		if obj, err = p.applyStrategic(current); err != nil {
			return nil, err
		}
	} else {
		obj = p.store.New()
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
	}
	p.store.Default(obj)
	return p.fieldManager.UpdateNoErrors(current, obj, p.manager), nil
}

// serverSideApply is upstream's applyPatcher: the YAML configuration is
// merged into the live object (an empty one when there is none: apply
// creates) by the field manager, which detects conflicts with other
// managers unless forced.
func (p *patcher) serverSideApply(current runtime.Object) (runtime.Object, error) {
	live := current
	if live == nil {
		live = p.store.New()
	}
	patchObj := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(p.patch, &patchObj.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
	}
	obj, err := p.fieldManager.Apply(live, patchObj, p.manager, p.force)
	if err != nil {
		var st apierrors.APIStatus
		if errors.As(err, &st) {
			return nil, err
		}
		// Upstream writes errors that are not a Status (a field the schema
		// does not declare) as a bare 500 with the error's text.
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}}
	}
	if p.directive == metav1.FieldValidationStrict || p.directive == metav1.FieldValidationWarn {
		if err := yaml.UnmarshalStrict(p.patch, &map[string]any{}); err != nil {
			if p.directive == metav1.FieldValidationStrict {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding patch: %v", err))
			}
			warning.AddWarning(p.ctx, "", err.Error())
		}
	}
	return obj, nil
}

// applyStrategic is upstream's strategicPatchObject: the patch is merged
// into the object's map form and converted back without a JSON round trip;
// strict-decoding problems are 422s on the field "patch".
func (p *patcher) applyStrategic(current runtime.Object) (runtime.Object, error) {
	patchMap := map[string]any{}
	var strictErrs []error
	var err error
	validate := p.directive != metav1.FieldValidationIgnore
	if validate {
		strictErrs, err = kjson.UnmarshalStrict(p.patch, &patchMap)
	} else {
		err = kjson.UnmarshalCaseSensitivePreserveInts(p.patch, &patchMap)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	var obj runtime.Object
	if _, ok := patchMap["metadata"]; ok && len(patchMap) == 1 {
		obj, err = strategicMetadata(current, patchMap, p.store.New, validate)
	} else {
		obj, err = strategicWhole(current, patchMap, p.store.New, validate)
	}
	if err != nil {
		se, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict {
			return nil, err
		}
		strictErrs = append(strictErrs, se.Errors()...)
	}
	if len(strictErrs) == 0 {
		return obj, nil
	}
	if p.directive == metav1.FieldValidationStrict {
		return nil, invalidPatch(patchMap, runtime.NewStrictDecodingError(strictErrs).Error())
	}
	for _, e := range strictErrs {
		warning.AddWarning(p.ctx, "", e.Error())
	}
	return obj, nil
}

// strategicWhole merges the patch into the whole object, as upstream does.
// A strict decoding error comes back with the object.
func strategicWhole(current runtime.Object, patchMap map[string]any, newObj func() runtime.Object, validate bool) (runtime.Object, error) {
	originalMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	patchedMap, err := strategicpatch.StrategicMergeMapPatch(originalMap, patchMap, newObj())
	if err != nil {
		return nil, interpretStrategicMergePatchError(err)
	}
	obj := newObj()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(patchedMap, obj, validate); err != nil {
		if _, isStrict := runtime.AsStrictDecodingError(err); !isStrict {
			return nil, invalidPatch(patchMap, err.Error())
		}
		return obj, err
	}
	return obj, nil
}

// metadataOf is the JSON shape of an object's metadata alone. Its field name
// makes conversion errors name "metadata.<field>", as for a whole object.
type metadataOf struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// strategicMetadata merges a patch of nothing but metadata (the controllers'
// finalizer and ownerReference patches) into the object's metadata alone,
// with the same result as strategicWhole: a strategic merge leaves the keys
// a patch does not name as they are. Converting a whole Pod to a map and
// back was most of the cost of such a patch.
func strategicMetadata(current runtime.Object, patchMap map[string]any, newObj func() runtime.Object, validate bool) (runtime.Object, error) {
	obj := current.DeepCopyObject()
	accessor, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return strategicWhole(current, patchMap, newObj, validate)
	}
	m, ok := accessor.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return strategicWhole(current, patchMap, newObj, validate)
	}
	original, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&metadataOf{Metadata: *m})
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	patched, err := strategicpatch.StrategicMergeMapPatch(original, patchMap, newObj())
	if err != nil {
		return nil, interpretStrategicMergePatchError(err)
	}
	var out metadataOf
	err = runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(patched, &out, validate)
	if err != nil {
		if _, isStrict := runtime.AsStrictDecodingError(err); !isStrict {
			return nil, invalidPatch(patchMap, err.Error())
		}
	}
	*m = out.Metadata
	return obj, err
}

// invalidPatch is upstream's 422 for a patch whose result does not decode.
func invalidPatch(patchMap map[string]any, msg string) error {
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), fmt.Sprintf("%+v", patchMap), msg)})
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
