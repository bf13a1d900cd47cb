package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// TokenAPIPath is the admin-only token API. It is a non-resource URL, so
// RBAC guards it with nonResourceURLs (cluster-admin's "*" covers it):
//
//	POST   /skiff/v1/tokens       {"user":"alice","groups":["g"],"ttl":"24h"} → 201 CreatedToken
//	GET    /skiff/v1/tokens       → 200 TokenList (no secrets, no hashes)
//	DELETE /skiff/v1/tokens/{id}  → 200 TokenInfo, 404 if unknown
//
// Errors are metav1.Status bodies.
const TokenAPIPath = "/skiff/v1/tokens"

// CreateTokenRequest is the POST body.
type CreateTokenRequest struct {
	User   string   `json:"user"`
	UID    string   `json:"uid,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// TTL is a Go duration ("24h"); empty means no expiry.
	TTL string `json:"ttl,omitempty"`
}

// CreatedToken is the POST answer: the only time the token is shown.
type CreatedToken struct {
	TokenInfo
	Token string `json:"token"`
}

// TokenList is the GET answer.
type TokenList struct {
	Items []TokenInfo `json:"items"`
}

// tokenResource names the API in error messages.
var tokenResource = schema.GroupResource{Group: "skiff.dev", Resource: "tokens"}

// isTokenAPI reports whether r is for the token API.
func isTokenAPI(r *http.Request) bool {
	info, ok := request.RequestInfoFrom(r.Context())
	if !ok || info.IsResourceRequest {
		return false
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return p == TokenAPIPath || strings.HasPrefix(p, TokenAPIPath+"/")
}

// serveTokenAPI serves the token API; authorization has already happened.
func serveTokenAPI(w http.ResponseWriter, r *http.Request, tokens *TokenStore) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), TokenAPIPath)
	id = strings.TrimPrefix(id, "/")
	var err error
	switch {
	case id == "" && r.Method == http.MethodPost:
		err = createToken(w, r, tokens)
	case id == "" && r.Method == http.MethodGet:
		err = listTokens(w, r, tokens)
	case id != "" && !strings.Contains(id, "/") && r.Method == http.MethodDelete:
		err = revokeToken(w, r, tokens, id)
	case id != "" && strings.Contains(id, "/"):
		err = apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
	default:
		err = apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false)
	}
	if err != nil {
		writeStatusError(w, r, err)
	}
}

func createToken(w http.ResponseWriter, r *http.Request, tokens *TokenStore) error {
	var req CreateTokenRequest
	if r.Body == nil {
		return apierrors.NewBadRequest("request body is required")
	}
	defer r.Body.Close()
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decoding token request: %v", err))
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid ttl: %v", err))
		}
		ttl = d
	}
	tok, info, err := tokens.Create(r.Context(), TokenRequest{User: req.User, UID: req.UID, Groups: req.Groups, TTL: ttl})
	if err != nil {
		var invalid *validationError
		if errors.As(err, &invalid) {
			return apierrors.NewBadRequest(invalid.Error())
		}
		return apierrors.NewInternalError(err)
	}
	out := CreatedToken{TokenInfo: *info, Token: tok}
	out.Hash = ""
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func listTokens(w http.ResponseWriter, r *http.Request, tokens *TokenStore) error {
	items, err := tokens.List(r.Context())
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if items == nil {
		items = []TokenInfo{}
	}
	writeJSON(w, http.StatusOK, TokenList{Items: items})
	return nil
}

func revokeToken(w http.ResponseWriter, r *http.Request, tokens *TokenStore, id string) error {
	err := tokens.Revoke(r.Context(), id)
	if errors.Is(err, ErrTokenNotFound) {
		return apierrors.NewNotFound(tokenResource, id)
	}
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	writeJSON(w, http.StatusOK, TokenInfo{ID: id})
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// withEndpoints serves the token API and the reviews; everything else goes
// to next.
func withEndpoints(next http.Handler, cfg FilterConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := request.RequestInfoFrom(r.Context())
		switch {
		case ok && cfg.Reviews != nil && cfg.Reviews.Handles(info):
			cfg.Reviews.ServeHTTP(w, r)
		case cfg.Tokens != nil && isTokenAPI(r):
			serveTokenAPI(w, r, cfg.Tokens)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
