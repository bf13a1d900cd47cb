package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/skiff-sh/skiff/internal/storage"
)

// DefaultTokenPrefix is where issued tokens live in etcd, next to (not
// under) the resources' /registry-relative keys.
const DefaultTokenPrefix = "/skiff.dev/tokens/"

// ErrTokenNotFound is returned by Revoke for an unknown id.
var ErrTokenNotFound = errors.New("token not found")

// TokenInfo describes an issued token. The secret itself is never stored:
// Hash is the hex SHA-256 of the whole token string.
type TokenInfo struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash,omitempty"`
	User    string    `json:"user"`
	UID     string    `json:"uid,omitempty"`
	Groups  []string  `json:"groups,omitempty"`
	Created time.Time `json:"created"`
	// Expires is zero for a token that never expires.
	Expires time.Time `json:"expires,omitzero"`
}

// Expired reports whether the token is past its expiry at now.
func (t *TokenInfo) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// TokenStoreConfig configures NewTokenStore.
type TokenStoreConfig struct {
	// Storage holds the hashes. Required.
	Storage storage.Interface
	// Prefix is the key prefix; default DefaultTokenPrefix.
	Prefix string
	// CacheTTL bounds how long a successful lookup is trusted without asking
	// etcd again; a revocation on another replica takes effect within it.
	// Revocations through this store take effect at once. Default 10s.
	CacheTTL time.Duration
	// MaxCacheEntries bounds the cache; default 10000.
	MaxCacheEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// TokenStore issues, revokes and authenticates Skiff's own tokens. A token
// is "<id>.<secret>"; etcd keeps only its SHA-256 under Prefix+id. Safe for
// concurrent use.
type TokenStore struct {
	cfg TokenStoreConfig

	// mu guards cache, which maps the hash of a presented token to what
	// etcd said about it and when.
	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	info    *TokenInfo // nil: etcd knows no such token
	fetched time.Time
}

// negativeTTL is how long "unknown token" is remembered, which keeps a flood
// of bad tokens from turning into a flood of etcd reads.
const negativeTTL = 2 * time.Second

var _ authenticator.Token = (*TokenStore)(nil)

// NewTokenStore returns a store over cfg.Storage.
func NewTokenStore(cfg TokenStoreConfig) (*TokenStore, error) {
	if cfg.Storage == nil {
		return nil, errors.New("auth: TokenStoreConfig.Storage is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultTokenPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.MaxCacheEntries == 0 {
		cfg.MaxCacheEntries = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &TokenStore{cfg: cfg, cache: map[string]cachedToken{}}, nil
}

// TokenRequest is what Create needs.
type TokenRequest struct {
	User   string
	UID    string
	Groups []string
	// TTL is the lifetime; 0 means the token never expires.
	TTL time.Duration
}

// validationError is a request the caller must fix (a 400 in the API).
type validationError struct{ msg string }

func (e *validationError) Error() string { return e.msg }

// Validate checks a request; its errors are *validationError.
func (r TokenRequest) Validate() error {
	if strings.TrimSpace(r.User) == "" {
		return &validationError{"user is required"}
	}
	if r.TTL < 0 {
		return &validationError{"ttl must not be negative"}
	}
	for _, g := range r.Groups {
		if strings.TrimSpace(g) == "" {
			return &validationError{"groups must not be empty strings"}
		}
		if g == user.SystemPrivilegedGroup {
			// system:masters bypasses authorization and limits; only the
			// admin token and a token file may grant it.
			return &validationError{fmt.Sprintf("group %s cannot be granted to an issued token", g)}
		}
	}
	return nil
}

// Create issues a token and returns it (the only time it is visible) with
// its description.
func (s *TokenStore) Create(ctx context.Context, req TokenRequest) (string, *TokenInfo, error) {
	if err := req.Validate(); err != nil {
		return "", nil, err
	}
	idBytes, secret := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(idBytes); err != nil {
		return "", nil, fmt.Errorf("generating token id: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("generating token: %w", err)
	}
	id := hex.EncodeToString(idBytes)
	token := id + "." + base64.RawURLEncoding.EncodeToString(secret)
	now := s.cfg.Now().UTC().Truncate(time.Second)
	info := &TokenInfo{ID: id, Hash: hashToken(token), User: req.User, UID: req.UID, Groups: append([]string(nil), req.Groups...), Created: now}
	if req.TTL > 0 {
		info.Expires = now.Add(req.TTL)
	}
	data, err := json.Marshal(info)
	if err != nil {
		return "", nil, fmt.Errorf("encoding token: %w", err)
	}
	if _, err := s.cfg.Storage.Create(ctx, s.cfg.Prefix+id, data); err != nil {
		return "", nil, fmt.Errorf("storing token: %w", err)
	}
	s.forget(info.Hash)
	return token, info, nil
}

// Revoke deletes the token with this id. It takes effect on this server at
// once. ErrTokenNotFound if there is none.
func (s *TokenStore) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrTokenNotFound
	}
	kv, _, err := s.cfg.Storage.Delete(ctx, s.cfg.Prefix+id, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrTokenNotFound
	}
	if err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	var info TokenInfo
	if err := json.Unmarshal(kv.Value, &info); err == nil {
		s.forget(info.Hash)
	} else {
		s.forgetAll()
	}
	return nil
}

// List returns every issued token, expired ones included, without hashes,
// oldest first.
func (s *TokenStore) List(ctx context.Context) ([]TokenInfo, error) {
	var out []TokenInfo
	start := ""
	for {
		kvs, _, more, err := s.cfg.Storage.List(ctx, s.cfg.Prefix, start, 0, 500)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		for _, kv := range kvs {
			var info TokenInfo
			if err := json.Unmarshal(kv.Value, &info); err != nil {
				continue
			}
			info.Hash = ""
			out = append(out, info)
		}
		if !more || len(kvs) == 0 {
			break
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// AuthenticateToken implements authenticator.Token. Unknown, expired and
// revoked tokens are (nil, false, nil); only a storage failure is an error.
func (s *TokenStore) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	id, _, ok := strings.Cut(token, ".")
	if !ok || !validID(id) {
		return nil, false, nil
	}
	hash := hashToken(token)
	info, err := s.lookup(ctx, id, hash)
	if err != nil || info == nil || info.Expired(s.cfg.Now()) {
		return nil, false, err
	}
	u := &user.DefaultInfo{Name: info.User, UID: info.UID, Groups: append([]string(nil), info.Groups...)}
	return &authenticator.Response{User: u}, true, nil
}

func (s *TokenStore) lookup(ctx context.Context, id, hash string) (*TokenInfo, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.cache[hash]
	s.mu.Unlock()
	ttl := s.cfg.CacheTTL
	if ok && c.info == nil {
		ttl = negativeTTL
	}
	if ok && now.Sub(c.fetched) < ttl {
		return c.info, nil
	}
	kv, err := s.cfg.Storage.Get(ctx, s.cfg.Prefix+id)
	var info *TokenInfo
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("looking up token: %w", err)
	default:
		var stored TokenInfo
		if err := json.Unmarshal(kv.Value, &stored); err != nil {
			return nil, fmt.Errorf("decoding token %s: %w", id, err)
		}
		if subtle.ConstantTimeCompare([]byte(stored.Hash), []byte(hash)) == 1 {
			info = &stored
		}
	}
	s.remember(hash, cachedToken{info: info, fetched: now})
	return info, nil
}

func (s *TokenStore) remember(hash string, c cachedToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= s.cfg.MaxCacheEntries {
		clear(s.cache)
	}
	s.cache[hash] = c
}

func (s *TokenStore) forget(hash string) {
	s.mu.Lock()
	delete(s.cache, hash)
	s.mu.Unlock()
}

func (s *TokenStore) forgetAll() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validID accepts the 16 lowercase hex digits Create generates.
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}
