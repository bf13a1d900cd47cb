package satoken

import (
	"crypto/ecdsa"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// Upstream's constants (pkg/serviceaccount/claims.go and the
// ServiceAccount admission plugin).
const (
	// DefaultIssuer is the iss of Skiff's tokens and, as kube-apiserver
	// does when --api-audiences is not set, the API's only audience.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// WarnOnlyBoundTokenExpirationSeconds is what the admission plugin asks
	// for in a pod's token volume: a pod-bound token requested with exactly
	// this lifetime for the API's audiences is extended to a year, with
	// kubernetes.io.warnafter at the requested time.
	WarnOnlyBoundTokenExpirationSeconds = 60*60 + 7
	// ExpirationExtensionSeconds is that year.
	ExpirationExtensionSeconds = 24 * 365 * 60 * 60
	// leeway is go-jose's jwt.DefaultLeeway, which upstream validates with.
	leeway = time.Minute
)

// claims are a token's JWT claims: the registered ones and upstream's
// private "kubernetes.io" claim.
type claims struct {
	jwt.RegisteredClaims
	Kubernetes kubernetesClaims `json:"kubernetes.io"`
}

type kubernetesClaims struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   ref              `json:"serviceaccount"`
	Pod       *ref             `json:"pod,omitempty"`
	Secret    *ref             `json:"secret,omitempty"`
	Node      *ref             `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Binding is what a token is bound to: at most one of Pod (with the Node it
// runs on, if any), Secret or Node.
type Binding struct {
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
}

// Issuer signs tokens.
type Issuer struct {
	key    *ecdsa.PrivateKey
	kid    string
	issuer string
	now    func() time.Time
}

// NewIssuer returns an issuer signing with key, naming itself iss.
func NewIssuer(key *ecdsa.PrivateKey, iss string) (*Issuer, error) {
	kid, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Issuer{key: key, kid: kid, issuer: iss, now: time.Now}, nil
}

// Issue signs a token for sa, bound to b, valid from now for
// expirationSeconds; warnAfter, when not 0, is the kubernetes.io.warnafter
// offset from now in seconds. It returns the token and its ID (jti).
func (is *Issuer) Issue(sa *corev1.ServiceAccount, b Binding, audiences []string, now time.Time, expirationSeconds, warnAfter int64) (string, string, error) {
	if b.Secret != nil && (b.Pod != nil || b.Node != nil) {
		return "", "", fmt.Errorf("internal error, token can only be bound to one object type")
	}
	jti := uuid.NewString()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    is.issuer,
			Subject:   serviceaccount.MakeUsername(sa.Namespace, sa.Name),
			Audience:  jwt.ClaimStrings(audiences),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(expirationSeconds) * time.Second)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Kubernetes: kubernetesClaims{Namespace: sa.Namespace, Svcacct: ref{Name: sa.Name, UID: string(sa.UID)}},
	}
	switch {
	case b.Pod != nil:
		c.Kubernetes.Pod = &ref{Name: b.Pod.Name, UID: string(b.Pod.UID)}
		if b.Node != nil {
			c.Kubernetes.Node = &ref{Name: b.Node.Name, UID: string(b.Node.UID)}
		}
	case b.Secret != nil:
		c.Kubernetes.Secret = &ref{Name: b.Secret.Name, UID: string(b.Secret.UID)}
	case b.Node != nil:
		c.Kubernetes.Node = &ref{Name: b.Node.Name, UID: string(b.Node.UID)}
	}
	if warnAfter != 0 {
		c.Kubernetes.WarnAfter = jwt.NewNumericDate(now.Add(time.Duration(warnAfter) * time.Second))
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = is.kid
	signed, err := tok.SignedString(is.key)
	if err != nil {
		return "", "", fmt.Errorf("signing service account token: %w", err)
	}
	return signed, jti, nil
}
