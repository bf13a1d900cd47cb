package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/satoken"
)

// saTokenCacheTTL is kube-apiserver's token success cache TTL.
const saTokenCacheTTL = 10 * time.Second

// security is the authentication and authorization set-up: who the admin
// is, the tokens Skiff issues, and the identities of its own components.
type security struct {
	identities *auth.Identities
	tokens     *auth.TokenStore
	audit      *os.File
	wrap       func(http.Handler) http.Handler
}

// newSecurity builds the filter chain (upstream's order: audit, deadline,
// timeout, authentication, max-in-flight, authorization) over RBAC read
// from the watch cache.
func (s *Server) newSecurity(res *resources) (*security, error) {
	sec := &security{identities: auth.NewIdentities()}
	tokens, err := auth.NewTokenStore(auth.TokenStoreConfig{Storage: s.store})
	if err != nil {
		return nil, fmt.Errorf("token store: %w", err)
	}
	sec.tokens = tokens
	s.startTokenPurge(tokens)
	// As kube-apiserver, a service account token's answer is kept for 10 s
	// (failures are not): a signature check and the bound objects' reads
	// are not repeated for each request of an in-cluster client. A token
	// whose pod was deleted may so work for up to 10 s more, as upstream.
	saTokens := tokencache.New(satoken.NewAuthenticator(s.saPublicKey, satoken.DefaultIssuer, authenticator.Audiences{satoken.DefaultIssuer},
		tokenObjects{res}, tokenObjects{res}, s.logger), false, saTokenCacheTTL, 0)
	sources := []authenticator.Token{auth.StaticTokens(map[string]user.Info{s.token: auth.AdminInfo()}), sec.identities, tokens, saTokens}
	if s.cfg.TokenAuthFile != "" {
		f, err := auth.TokenFile(s.cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		sources = append(sources, f)
	}
	authz := auth.NewRBAC(rbac.NewLister(res.roles, res.roleBindings, res.clusterRoles, res.clusterRoleBindings)).
		WithCatchUp(s.catchUpCache)
	res.escalation.Authorizer, res.escalation.RoleRules = authz, res.roleRules
	res.reviews.target.Store(auth.NewReviews(authz, authz))
	fc := auth.FilterConfig{
		Authenticator:               auth.NewRequestAuthenticator(sources...),
		Authorizer:                  authz,
		MaxRequestsInFlight:         s.cfg.MaxRequestsInFlight,
		MaxMutatingRequestsInFlight: s.cfg.MaxMutatingRequestsInFlight,
		RequestTimeout:              s.cfg.RequestTimeout,
		Tokens:                      tokens,
		Logger:                      s.logger,
	}
	if s.cfg.AuditLogPath != "" {
		f, err := os.OpenFile(s.cfg.AuditLogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening audit log: %w", err)
		}
		sec.audit = f
		fc.AuditLog = auth.NewAuditLog(f)
	}
	if sec.wrap, err = auth.Wrap(fc); err != nil {
		return nil, err
	}
	return sec, nil
}

// startTokenPurge deletes expired tokens from etcd now and each
// auth.DefaultPurgeInterval until Close. Its context ends with the other
// background work: its stop is chained onto s.cancel, which Close calls
// before waiting for s.wg.
func (s *Server) startTokenPurge(tokens *auth.TokenStore) {
	ctx, stop := context.WithCancel(context.Background())
	prev := s.cancel
	s.cancel = func() {
		stop()
		if prev != nil {
			prev()
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tokens.RunPurge(ctx, auth.DefaultPurgeInterval, s.logger)
	}()
}

// clientConfig is the loopback config of a component with its own identity.
func (s *Server) clientConfig(who user.Info) (*rest.Config, error) {
	token, err := s.security.identities.Token(who)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", who.GetName(), err)
	}
	return loopbackConfig(s.api, token), nil
}

// reviewResources are the create-only review resources (`kubectl auth
// whoami`, `can-i`, `can-i --list`): listed in discovery and routed like any
// other resource (404 under a namespace, 405 for other verbs), served by
// h. They store nothing; their zero Store only says they are
// cluster-scoped.
func reviewResources(h *reviewsHandler) []*apiserver.Resource {
	mk := func(gvr schema.GroupVersionResource, kind string) *apiserver.Resource {
		return &apiserver.Resource{
			GroupVersion: gvr.GroupVersion(), Name: gvr.Resource, SingularName: strings.ToLower(kind), Kind: kind,
			Verbs: []string{"create"}, Store: &generic.Store{}, Handler: h,
		}
	}
	return []*apiserver.Resource{
		mk(auth.SelfSubjectReviews, "SelfSubjectReview"),
		mk(auth.SelfSubjectAccessReviews, "SelfSubjectAccessReview"),
		mk(auth.SelfSubjectRulesReviews, "SelfSubjectRulesReview"),
	}
}

// reviewsHandler serves the reviews through auth.Reviews, which needs the
// authorizer: it is built after the resources, so it is set later.
type reviewsHandler struct {
	target atomic.Pointer[auth.Reviews]
}

var _ apiserver.SubresourceHandler = (*reviewsHandler)(nil)

// ServeSubresource implements apiserver.SubresourceHandler; routing has
// already checked the verb (create) and the scope.
func (h *reviewsHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, _ *apiserver.Request) error {
	rv := h.target.Load()
	if rv == nil {
		return apierrors.NewServiceUnavailable("the authorizer is not ready yet")
	}
	rv.ServeHTTP(w, r)
	return nil
}

// tokenObjects reads what service account tokens are bound to, watch cache
// first.
type tokenObjects struct{ res *resources }

var _ satoken.Getter = tokenObjects{}

func (t tokenObjects) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return getCachedFirst[*corev1.ServiceAccount](ctx, t.res.serviceAccounts, namespace, name)
}

func (t tokenObjects) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return getCachedFirst[*corev1.Pod](ctx, t.res.pods, namespace, name)
}

func (t tokenObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return getCachedFirst[*corev1.Secret](ctx, t.res.secrets, namespace, name)
}

func (t tokenObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return getCachedFirst[*corev1.Node](ctx, t.res.nodes, "", name)
}

// MarkUsed records on a Secret the day its legacy token was last used, as
// upstream's legacy token tracking does.
func (t tokenObjects) MarkUsed(ctx context.Context, namespace, name, day string) error {
	_, err := t.res.secrets.GuaranteedUpdate(ctx, namespace, name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		s := cur.(*corev1.Secret)
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[satoken.LegacyTokenLastUsedLabel] = day
		return s, nil
	}, false)
	return err
}
