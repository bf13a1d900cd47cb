package server

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
)

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
	sources := []authenticator.Token{auth.StaticTokens(map[string]user.Info{s.token: auth.AdminInfo()}), sec.identities, tokens}
	if s.cfg.TokenAuthFile != "" {
		f, err := auth.TokenFile(s.cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		sources = append(sources, f)
	}
	authz := auth.NewRBAC(rbac.NewLister(res.roles, res.roleBindings, res.clusterRoles, res.clusterRoleBindings))
	res.escalation.Authorizer, res.escalation.RoleRules = authz, res.roleRules
	fc := auth.FilterConfig{
		Authenticator:               auth.NewRequestAuthenticator(sources...),
		Authorizer:                  authz,
		MaxRequestsInFlight:         s.cfg.MaxRequestsInFlight,
		MaxMutatingRequestsInFlight: s.cfg.MaxMutatingRequestsInFlight,
		RequestTimeout:              s.cfg.RequestTimeout,
		Tokens:                      tokens,
		Reviews:                     auth.NewReviews(authz, authz),
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
