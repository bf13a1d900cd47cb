package satoken

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// Secret-based ("legacy") tokens, as upstream's pkg/serviceaccount/legacy.go:
// the tokens controller writes them into Secrets of type
// kubernetes.io/service-account-token; they never expire and are valid
// while that Secret holds them and its service account exists.
const (
	// LegacyIssuer is their iss.
	LegacyIssuer = "kubernetes/serviceaccount"
	// LegacyTokenLastUsedLabel records, on the Secret, the day a token was
	// last used (upstream's legacy token tracking).
	LegacyTokenLastUsedLabel = "kubernetes.io/legacy-token-last-used"
	// LegacyTokenInvalidSinceLabel, set on a Secret, invalidates its token.
	LegacyTokenInvalidSinceLabel = "kubernetes.io/legacy-token-invalid-since"
	legacyDateFormat             = "2006-01-02"
)

type legacyClaims struct {
	jwt.RegisteredClaims
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
}

// IssueLegacy signs a secret-based token for sa, kept in Secret secretName.
func (is *Issuer) IssueLegacy(sa *corev1.ServiceAccount, secretName string) (string, error) {
	c := legacyClaims{
		RegisteredClaims:   jwt.RegisteredClaims{Issuer: LegacyIssuer, Subject: serviceaccount.MakeUsername(sa.Namespace, sa.Name)},
		ServiceAccountName: sa.Name, ServiceAccountUID: string(sa.UID), SecretName: secretName, Namespace: sa.Namespace,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = is.kid
	signed, err := tok.SignedString(is.key)
	if err != nil {
		return "", fmt.Errorf("signing service account token: %w", err)
	}
	return signed, nil
}

// LegacyTokenTracker records that a Secret's token was used.
type LegacyTokenTracker interface {
	// MarkUsed sets LegacyTokenLastUsedLabel to day on the Secret.
	MarkUsed(ctx context.Context, namespace, name, day string) error
}

// authenticateLegacy is upstream's legacy validator.
func (a *Authenticator) authenticateLegacy(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	var c legacyClaims
	if _, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(LegacyIssuer), jwt.WithTimeFunc(a.now)); err != nil {
		return nil, false, fmt.Errorf("invalid service account token: %w", err)
	}
	switch {
	case c.Namespace == "":
		return nil, false, errors.New("namespace claim is missing")
	case c.SecretName == "":
		return nil, false, errors.New("secretName claim is missing")
	case c.ServiceAccountName == "":
		return nil, false, errors.New("serviceAccountName claim is missing")
	case c.ServiceAccountUID == "":
		return nil, false, errors.New("serviceAccountUID claim is missing")
	}
	secret, err := a.getter.Secret(ctx, c.Namespace, c.SecretName)
	if err != nil || secret.DeletionTimestamp != nil {
		return nil, false, errors.New("token has been invalidated")
	}
	if string(secret.Data[corev1.ServiceAccountTokenKey]) != token {
		return nil, false, errors.New("token does not match server's copy")
	}
	sa, err := a.getter.ServiceAccount(ctx, c.Namespace, c.ServiceAccountName)
	if err != nil {
		return nil, false, err
	}
	if sa.DeletionTimestamp != nil {
		return nil, false, errors.New("service account has been deleted")
	}
	if string(sa.UID) != c.ServiceAccountUID {
		return nil, false, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccountUID)
	}
	if _, invalid := secret.Labels[LegacyTokenInvalidSinceLabel]; invalid {
		return nil, false, errors.New("token has been invalidated")
	}
	if a.tracker != nil {
		if day := a.now().UTC().Format(legacyDateFormat); secret.Labels[LegacyTokenLastUsedLabel] != day {
			if err := a.tracker.MarkUsed(ctx, c.Namespace, c.SecretName, day); err != nil {
				a.logger.Warn("recording a legacy token's use failed", "namespace", c.Namespace, "secret", c.SecretName, "err", err)
			}
		}
	}
	info := &serviceaccount.ServiceAccountInfo{Namespace: c.Namespace, Name: c.ServiceAccountName, UID: c.ServiceAccountUID}
	return &authenticator.Response{User: info.UserInfo(), Audiences: a.audiences}, true, nil
}
