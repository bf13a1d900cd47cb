package satoken

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// Service account issuer discovery, as kube-apiserver serves it: an OpenID
// Connect provider configuration and the key set, so that other systems can
// verify Skiff's service account tokens.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	JWKSPath         = "/openid/v1/jwks"
)

type openIDConfig struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
}

type jwk struct {
	Use string `json:"use"`
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// DiscoveryHandlers returns the handlers of OpenIDConfigPath and JWKSPath
// for tokens of issuer signed by pub. The key set's address is the API's
// own (upstream's default without --service-account-jwks-uri): apiURL
// gives it once the server listens.
func DiscoveryHandlers(issuer string, apiURL func() string, pub *ecdsa.PublicKey) (map[string]http.Handler, error) {
	config := sync.OnceValue(func() []byte {
		b, _ := json.Marshal(openIDConfig{Issuer: issuer, JWKSURI: apiURL() + JWKSPath, ResponseTypes: []string{"id_token"},
			SubjectTypes: []string{"public"}, SigningAlgs: []string{"ES256"}})
		return b
	})
	point, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("encoding the service account key: %w", err)
	}
	kid, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	half := (len(point) - 1) / 2
	b64 := base64.RawURLEncoding.EncodeToString
	keys, err := json.Marshal(map[string][]jwk{"keys": {{Use: "sig", Kty: "EC", Kid: kid, Crv: "P-256", Alg: "ES256",
		X: b64(point[1 : 1+half]), Y: b64(point[1+half:])}}})
	if err != nil {
		return nil, fmt.Errorf("encoding the key set: %w", err)
	}
	return map[string]http.Handler{
		OpenIDConfigPath: staticJSON(config, "application/json"),
		JWKSPath:         staticJSON(func() []byte { return keys }, "application/jwk-set+json"),
	}, nil
}

// staticJSON serves body with upstream's caching header.
func staticJSON(body func() []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body())
	})
}
