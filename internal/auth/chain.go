package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-sh/skiff/internal/scheme"
)

// The filters below behave as upstream's k8s.io/apiserver/pkg/endpoints/
// filters of the same names (that package drags in modules Skiff does not
// otherwise need); their responses are byte-for-byte upstream's.

// invalidTimeoutInURL prefixes the 400 for an unparsable ?timeout=.
const invalidTimeoutInURL = "invalid timeout specified in the request URL"

// requestGV is the group version errors are negotiated for.
func requestGV(r *http.Request) schema.GroupVersion {
	if info, ok := request.RequestInfoFrom(r.Context()); ok {
		return schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return schema.GroupVersion{Version: "v1"}
}

// withRequestDeadline gives a non-long-running request a context deadline:
// ?timeout= if it is shorter than max, else max. An unparsable value is 400.
func withRequestDeadline(next http.Handler, max time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := request.RequestInfoFrom(r.Context())
		if !ok {
			responsewriters.InternalError(w, r, fmt.Errorf("no RequestInfo found in context, handler chain must be wrong"))
			return
		}
		if LongRunning(r, info) {
			next.ServeHTTP(w, r)
			return
		}
		timeout := max
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				bad := apierrors.NewBadRequest(fmt.Sprintf("%s - %s", invalidTimeoutInURL, err.Error()))
				responsewriters.ErrorNegotiated(bad, scheme.Codecs, requestGV(r), w, r)
				return
			}
			if d > 0 && d < max {
				timeout = d
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withAuthentication puts the caller in the context or answers 401 with
// upstream's Status. Anonymous requests are accepted for PublicPaths only;
// a bad token is 401 everywhere.
func withAuthentication(next http.Handler, a authenticator.Request, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := a.AuthenticateRequest(r)
		var u user.Info
		switch {
		case err != nil:
			logger.Debug("authentication failed", "path", r.URL.Path, "err", err)
		case ok:
			u = resp.User
		case isPublic(r):
			u = &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
		}
		if u == nil {
			unauthorized(w, r)
			return
		}
		recordUser(r.Context(), u)
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), u)))
	})
}

func unauthorized(w http.ResponseWriter, r *http.Request) {
	responsewriters.ErrorNegotiated(apierrors.NewUnauthorized("Unauthorized"), scheme.Codecs, requestGV(r), w, r)
}

func isPublic(r *http.Request) bool {
	info, ok := request.RequestInfoFrom(r.Context())
	if !ok || info.IsResourceRequest {
		return false
	}
	for _, p := range PublicPaths {
		if r.URL.Path == p {
			return true
		}
	}
	return false
}

// Attributes builds the authorizer's view of a request from its
// RequestInfo and user.
func Attributes(u user.Info, info *request.RequestInfo) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: u, Verb: info.Verb, Namespace: info.Namespace, APIGroup: info.APIGroup, APIVersion: info.APIVersion,
		Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
		ResourceRequest: info.IsResourceRequest, Path: info.Path,
	}
}

// streamSubresources are the pod subresources whose WebSocket upgrade (a GET)
// must also be allowed to create, as their SPDY upgrade (a POST) is.
var streamSubresources = map[string]bool{"exec": true, "attach": true, "portforward": true}

// authorizeStreamCreate is upstream's ensureAuthorizedForVerb, behind its
// AuthorizePodWebsocketUpgradeCreatePermission gate (on since 1.35): a
// request to pods/exec, attach or portforward is also authorized as a
// create, so that a policy granting "get" alone does not open a WebSocket
// stream (kubernetes/kubernetes#133515). A denial is upstream's Forbidden,
// whose message ends with the authorizer's reason (RBAC gives none).
func authorizeStreamCreate(ctx context.Context, a authorizer.UnconditionalAuthorizer, attrs authorizer.AttributesRecord) error {
	if attrs.APIGroup != "" || attrs.Resource != "pods" || !streamSubresources[attrs.Subresource] || attrs.Verb == "create" {
		return nil
	}
	attrs.Verb = "create"
	decision, reason, err := a.Authorize(ctx, attrs)
	if err != nil {
		return err
	}
	if decision != authorizer.DecisionAllow {
		return apierrors.NewForbidden(schema.GroupResource{Resource: attrs.Resource}, attrs.Name, errors.New(reason))
	}
	return nil
}

// withAuthorization passes allowed requests on and answers the rest with
// upstream's 403 (responsewriters.Forbidden: `jobs.batch "pi" is forbidden:
// User "alice" cannot delete resource "jobs" in API group "batch" in the
// namespace "team-b"`). An authorizer error without an allow is a 500.
func withAuthorization(next http.Handler, a authorizer.UnconditionalAuthorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := request.RequestInfoFrom(r.Context())
		if !ok {
			responsewriters.InternalError(w, r, fmt.Errorf("no RequestInfo found in the context"))
			return
		}
		u, _ := request.UserFrom(r.Context())
		attrs := Attributes(u, info)
		decision, reason, err := a.Authorize(r.Context(), attrs)
		switch {
		case decision == authorizer.DecisionAllow:
			if err := authorizeStreamCreate(r.Context(), a, attrs); err != nil {
				responsewriters.ErrorNegotiated(err, scheme.Codecs, schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}, w, r)
				return
			}
			next.ServeHTTP(w, r)
		case err != nil:
			responsewriters.InternalError(w, r, err)
		default:
			responsewriters.Forbidden(attrs, w, r, reason, scheme.Codecs)
		}
	})
}
