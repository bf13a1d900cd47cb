package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/satoken"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// Upstream's TokenRequest limits (pkg/apis/authentication/validation).
const (
	minTokenSeconds     = 10 * 60
	maxTokenSeconds     = 1 << 32
	defaultTokenSeconds = 60 * 60 // v1 defaulting of spec.expirationSeconds
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// tokenRequestHandler serves POST serviceaccounts/{name}/token, as
// upstream's TokenREST: it issues a token for the service account, bound to
// a pod, secret or node if asked, and stores nothing.
type tokenRequestHandler struct {
	serviceAccounts, pods, secrets, nodes *generic.Store
	issuer                                *satoken.Issuer
	audiences                             authenticator.Audiences
	now                                   func() time.Time
}

func (h *tokenRequestHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	tr := &authenticationv1.TokenRequest{}
	if err := apiserver.DecodeBody(r, tr, tokenRequestKind); err != nil {
		return err
	}
	out, err := h.create(r.Context(), req.Namespace, req.Name, tr)
	if err != nil {
		return err
	}
	responsewriters.WriteObjectNegotiated(scheme.Codecs, negotiation.DefaultEndpointRestrictions, authenticationv1.SchemeGroupVersion,
		w, r, http.StatusCreated, out, false)
	return nil
}

func (h *tokenRequestHandler) create(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = new(int64(defaultTokenSeconds))
	}
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	obj, err := h.serviceAccounts.Get(ctx, namespace, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	sa := obj.(*corev1.ServiceAccount)
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestKind.Group, Resource: tokenRequestKind.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = h.audiences
	}
	req.Name, req.Namespace, req.UID = sa.Name, sa.Namespace, sa.UID
	now := h.now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), "", errs)
	}
	binding, err := h.bound(ctx, namespace, name, req.Spec.BoundObjectRef)
	if err != nil {
		return nil, err
	}
	// A pod's token volume asks for exactly 3607 s; upstream
	// (--service-account-extend-token-expiration, on by default) makes that
	// token valid for a year and warns after the 3607 s, so that clients
	// that never reload it keep working.
	exp, warnAfter := *req.Spec.ExpirationSeconds, int64(0)
	if binding.Pod != nil && exp == satoken.WarnOnlyBoundTokenExpirationSeconds && hasAll(h.audiences, req.Spec.Audiences) {
		warnAfter, exp = exp, satoken.ExpirationExtensionSeconds
	}
	token, _, err := h.issuer.Issue(sa, binding, req.Spec.Audiences, now, exp, warnAfter)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %v", err))
	}
	out := req.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*out.Spec.ExpirationSeconds) * time.Second)),
	}
	return out, nil
}

// bound reads the object a token is to be bound to, with upstream's errors.
func (h *tokenRequestHandler) bound(ctx context.Context, namespace, saName string, ref *authenticationv1.BoundObjectReference) (satoken.Binding, error) {
	var b satoken.Binding
	if ref == nil {
		return b, nil
	}
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid string
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := h.pods.Get(ctx, namespace, ref.Name, metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Pod = obj.(*corev1.Pod)
		if saName != b.Pod.Spec.ServiceAccountName {
			return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		uid = string(b.Pod.UID)
		if nodeName := b.Pod.Spec.NodeName; nodeName != "" {
			// The node's name goes into the token even if the Node is gone.
			b.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
			if node, err := getCachedFirst[*corev1.Node](ctx, h.nodes, "", nodeName); err == nil {
				b.Node = node
			} else if !apierrors.IsNotFound(err) {
				return b, apierrors.NewInternalError(err)
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		obj, err := h.nodes.Get(ctx, "", ref.Name, metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Node = obj.(*corev1.Node)
		uid = string(b.Node.UID)
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := h.secrets.Get(ctx, namespace, ref.Name, metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Secret = obj.(*corev1.Secret)
		uid = string(b.Secret.UID)
	default:
		return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return b, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return b, nil
}

func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	if exp := *tr.Spec.ExpirationSeconds; exp < minTokenSeconds {
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration less than 10 minutes"))
	} else if exp > maxTokenSeconds {
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

// getCachedFirst reads name from the watch cache and, if the cache does not
// have it, from etcd: upstream's informer-then-API lookups.
func getCachedFirst[T runtime.Object](ctx context.Context, s *generic.Store, namespace, name string) (T, error) {
	obj, err := s.Get(ctx, namespace, name, metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		obj, err = s.Get(ctx, namespace, name, metav1.GetOptions{})
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return obj.(T), nil
}

// hasAll reports whether every one of auds is in set.
func hasAll(set authenticator.Audiences, auds []string) bool {
	for _, a := range auds {
		if !set.Has(a) {
			return false
		}
	}
	return true
}
