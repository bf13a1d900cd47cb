package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/authentication/user"
)

// HeaderAuthToken is the header CCI clients send their IAM token in.
const HeaderAuthToken = "X-Auth-Token"

// AdminUser is the identity of the admin token `skiff serve` writes into
// its kubeconfig.
const AdminUser = "skiff-admin"

var (
	// ErrConflictingTokens means a request carried two different tokens
	// (X-Auth-Token and Authorization: Bearer, or a header given twice).
	ErrConflictingTokens = errors.New("request carries conflicting tokens")
	// ErrInvalidToken means a token was presented but nobody knows it (or
	// it expired, or was revoked).
	ErrInvalidToken = errors.New("invalid bearer token")
)

// AdminInfo is the admin token's identity: a member of system:masters.
func AdminInfo() user.Info {
	return &user.DefaultInfo{Name: AdminUser, Groups: []string{user.SystemPrivilegedGroup}}
}

// StaticTokens authenticates a fixed token → user map (the admin token, the
// in-process identities). Groups get system:authenticated added by the
// request authenticator.
func StaticTokens(tokens map[string]user.Info) authenticator.Token {
	m := make(map[string]*user.DefaultInfo, len(tokens))
	for tok, u := range tokens {
		if tok == "" {
			continue
		}
		m[tok] = &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: append([]string(nil), u.GetGroups()...), Extra: u.GetExtra()}
	}
	return tokenfile.New(m)
}

// TokenFile reads upstream's --token-auth-file CSV
// (token,user,uid,"group1,group2").
func TokenFile(path string) (authenticator.Token, error) {
	a, err := tokenfile.NewCSV(path)
	if err != nil {
		return nil, fmt.Errorf("reading token file %s: %w", path, err)
	}
	return a, nil
}

// NewRequestAuthenticator authenticates requests by the token in
// X-Auth-Token or Authorization: Bearer (or a websocket bearer protocol),
// trying each token source in order. Every authenticated user is added to
// system:authenticated, as upstream does. A request without credentials
// gets (nil, false, nil); with an unknown or conflicting token, an error.
func NewRequestAuthenticator(sources ...authenticator.Token) authenticator.Request {
	tokens := union.New(sources...)
	return group.NewAuthenticatedGroupAdder(requestAuthenticators{
		headerAuthenticator{tokens: tokens},
		websocket.NewProtocolAuthenticator(tokens),
	})
}

// requestAuthenticators tries each authenticator in order and stops at the
// first that finds credentials (success or error).
type requestAuthenticators []authenticator.Request

func (as requestAuthenticators) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	for _, a := range as {
		resp, ok, err := a.AuthenticateRequest(r)
		if ok || err != nil {
			return resp, ok, err
		}
	}
	return nil, false, nil
}

// headerAuthenticator reads X-Auth-Token and Authorization: Bearer.
type headerAuthenticator struct{ tokens authenticator.Token }

func (a headerAuthenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, found, err := RequestToken(r.Header)
	if err != nil || !found {
		return nil, false, err
	}
	resp, ok, err := a.tokens.AuthenticateToken(r.Context(), tok)
	if err != nil {
		return nil, false, fmt.Errorf("authenticating token: %w", err)
	}
	if !ok {
		return nil, false, ErrInvalidToken
	}
	// Nobody inside the server should be tempted to reuse the credential.
	r.Header.Del("Authorization")
	r.Header.Del(HeaderAuthToken)
	return resp, true, nil
}

// RequestToken returns the token a request carries. Both headers may be
// sent if they agree; any disagreement (between them, or between repeated
// values of one header) is ErrConflictingTokens. An Authorization header
// of another scheme (Basic) is not a token.
func RequestToken(h http.Header) (string, bool, error) {
	var found []string
	for _, v := range h.Values("Authorization") {
		if tok, ok := bearerToken(v); ok {
			found = append(found, tok)
		}
	}
	for _, v := range h.Values(HeaderAuthToken) {
		if tok := strings.TrimSpace(v); tok != "" {
			found = append(found, tok)
		}
	}
	if len(found) == 0 {
		return "", false, nil
	}
	for _, tok := range found[1:] {
		if tok != found[0] {
			return "", false, ErrConflictingTokens
		}
	}
	return found[0], true, nil
}

// bearerToken parses "Bearer <token>" as upstream's bearertoken does.
func bearerToken(header string) (string, bool) {
	parts := strings.SplitN(strings.TrimSpace(header), " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
