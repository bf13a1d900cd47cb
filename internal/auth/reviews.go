package auth

import (
	"fmt"
	"io"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-sh/skiff/internal/scheme"
)

// maxBodyBytes is upstream's request body limit (3 MiB).
const maxBodyBytes = 3 * 1024 * 1024

// Reviews answers SelfSubjectReview (`kubectl auth whoami`),
// SelfSubjectAccessReview (`kubectl auth can-i`) and SelfSubjectRulesReview
// (`kubectl auth can-i --list`): create-only resources that store nothing.
type Reviews struct {
	authz authorizer.UnconditionalAuthorizer
	rules authorizer.RuleResolver
	now   func() time.Time
}

// NewReviews answers access reviews with authz and rules reviews with
// rules (normally both the same *RBAC the filter chain uses).
func NewReviews(authz authorizer.UnconditionalAuthorizer, rules authorizer.RuleResolver) *Reviews {
	return &Reviews{authz: authz, rules: rules, now: time.Now}
}

// The endpoints Reviews serves.
var (
	SelfSubjectReviews       = authenticationv1.SchemeGroupVersion.WithResource("selfsubjectreviews")
	SelfSubjectAccessReviews = authorizationv1.SchemeGroupVersion.WithResource("selfsubjectaccessreviews")
	SelfSubjectRulesReviews  = authorizationv1.SchemeGroupVersion.WithResource("selfsubjectrulesreviews")
)

// Handles reports whether info is a request Reviews serves (a create of
// one of the review resources: not namespaced, no name).
func (rv *Reviews) Handles(info *request.RequestInfo) bool {
	if !info.IsResourceRequest || info.Verb != "create" || info.Namespace != "" || info.Name != "" || info.Subresource != "" {
		return false
	}
	switch (schema.GroupVersionResource{Group: info.APIGroup, Version: info.APIVersion, Resource: info.Resource}) {
	case SelfSubjectReviews, SelfSubjectAccessReviews, SelfSubjectRulesReviews:
		return true
	}
	return false
}

// ServeHTTP serves a request for which Handles is true; the user must be in
// the context.
func (rv *Reviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, _ := request.RequestInfoFrom(r.Context())
	u, ok := request.UserFrom(r.Context())
	if info == nil || !ok {
		writeStatusError(w, r, apierrors.NewBadRequest("no user present on request"))
		return
	}
	var out runtime.Object
	var err error
	switch info.Resource {
	case SelfSubjectReviews.Resource:
		out, err = rv.selfSubjectReview(r, u)
	case SelfSubjectRulesReviews.Resource:
		out, err = rv.selfSubjectRulesReview(r, u)
	default:
		out, err = rv.selfSubjectAccessReview(r, u)
	}
	if err != nil {
		writeStatusError(w, r, err)
		return
	}
	responsewriters.WriteObjectNegotiated(scheme.Codecs, negotiation.DefaultEndpointRestrictions, requestGV(r), w, r, http.StatusCreated, out, false)
}

func (rv *Reviews) selfSubjectReview(r *http.Request, u user.Info) (runtime.Object, error) {
	in := &authenticationv1.SelfSubjectReview{}
	if err := decodeBody(r, in, authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview")); err != nil {
		return nil, err
	}
	out := &authenticationv1.SelfSubjectReview{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(rv.now())},
		Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{
			Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: extra(u.GetExtra()),
		}},
	}
	return out, nil
}

func extra(in map[string][]string) map[string]authenticationv1.ExtraValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]authenticationv1.ExtraValue, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (rv *Reviews) selfSubjectAccessReview(r *http.Request, u user.Info) (runtime.Object, error) {
	sar := &authorizationv1.SelfSubjectAccessReview{}
	if err := decodeBody(r, sar, authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview")); err != nil {
		return nil, err
	}
	if errs := validateSelfSubjectAccessReview(sar); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "", errs)
	}
	var attrs authorizer.AttributesRecord
	if ra := sar.Spec.ResourceAttributes; ra != nil {
		attrs = authorizer.AttributesRecord{
			User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group, APIVersion: ra.Version,
			Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true,
		}
	} else {
		nra := sar.Spec.NonResourceAttributes
		attrs = authorizer.AttributesRecord{User: u, Verb: nra.Verb, Path: nra.Path}
	}
	decision, reason, err := rv.authz.Authorize(r.Context(), attrs)
	sar.Status = authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		sar.Status.EvaluationError = err.Error()
	}
	return sar, nil
}

// selfSubjectRulesReview is upstream's: the rules that apply to u in
// spec.namespace (required), with any error reading them as
// status.evaluationError.
func (rv *Reviews) selfSubjectRulesReview(r *http.Request, u user.Info) (runtime.Object, error) {
	in := &authorizationv1.SelfSubjectRulesReview{}
	if err := decodeBody(r, in, authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview")); err != nil {
		return nil, err
	}
	if in.Spec.Namespace == "" {
		return nil, apierrors.NewBadRequest("no namespace on request")
	}
	if rv.rules == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("no rule resolver configured"))
	}
	resourceRules, nonResourceRules, incomplete, err := rv.rules.RulesFor(r.Context(), u, in.Spec.Namespace)
	out := &authorizationv1.SelfSubjectRulesReview{Status: authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    make([]authorizationv1.ResourceRule, 0, len(resourceRules)),
		NonResourceRules: make([]authorizationv1.NonResourceRule, 0, len(nonResourceRules)),
		Incomplete:       incomplete,
	}}
	for _, rule := range resourceRules {
		out.Status.ResourceRules = append(out.Status.ResourceRules, authorizationv1.ResourceRule{
			Verbs: rule.GetVerbs(), APIGroups: rule.GetAPIGroups(), Resources: rule.GetResources(), ResourceNames: rule.GetResourceNames(),
		})
	}
	for _, rule := range nonResourceRules {
		out.Status.NonResourceRules = append(out.Status.NonResourceRules, authorizationv1.NonResourceRule{
			Verbs: rule.GetVerbs(), NonResourceURLs: rule.GetNonResourceURLs(),
		})
	}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	return out, nil
}

// validateSelfSubjectAccessReview is upstream's
// ValidateSelfSubjectAccessReview.
func validateSelfSubjectAccessReview(sar *authorizationv1.SelfSubjectAccessReview) field.ErrorList {
	var errs field.ErrorList
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, sar.ObjectMeta) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, `must be empty`))
	}
	spec := field.NewPath("spec")
	if sar.Spec.ResourceAttributes != nil && sar.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), sar.Spec.NonResourceAttributes, `cannot be specified in combination with resourceAttributes`))
	}
	if sar.Spec.ResourceAttributes == nil && sar.Spec.NonResourceAttributes == nil {
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes"), sar.Spec.NonResourceAttributes, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	return errs
}

// decodeBody decodes a JSON, YAML or protobuf body into obj, with
// upstream's size limit (413) and error shapes (400, 415).
func decodeBody(r *http.Request, obj runtime.Object, gvk schema.GroupVersionKind) error {
	if r.Body == nil {
		return apierrors.NewBadRequest("request body is required")
	}
	defer r.Body.Close()
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if len(data) > maxBodyBytes {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	info, err := negotiation.NegotiateInputSerializer(r, false, scheme.Codecs)
	if err != nil {
		return err
	}
	decoded, _, err := scheme.Codecs.DecoderToVersion(info.Serializer, gvk.GroupVersion()).Decode(data, &gvk, obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if decoded != obj {
		return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s)", gvk.Kind))
	}
	return nil
}

func writeStatusError(w http.ResponseWriter, r *http.Request, err error) {
	responsewriters.ErrorNegotiated(err, scheme.Codecs, requestGV(r), w, r)
}
