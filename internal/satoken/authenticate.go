package satoken

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	authjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
)

// Getter reads the objects a token is bound to. Implementations read the
// watch cache first and fall back to a live read, as upstream's getter
// reads its informers before the API.
type Getter interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// errInvalidated is upstream's answer for a token whose pod, secret or node
// is gone.
var errInvalidated = errors.New("service account token has been invalidated")

// Authenticator authenticates the tokens an Issuer with the same key signed.
// Tokens of other issuers (and anything that is not a JWT) are not its
// business: it answers (nil, false, nil) so the next source can try.
type Authenticator struct {
	pub       *ecdsa.PublicKey
	issuer    string
	audiences authenticator.Audiences
	getter    Getter
	tracker   LegacyTokenTracker
	logger    *slog.Logger
	now       func() time.Time
}

var _ authenticator.Token = (*Authenticator)(nil)

// NewAuthenticator returns an authenticator for tokens signed by key's pair
// and issued by iss (and for secret-based tokens), accepted for any of
// audiences (the API's). tracker, if not nil, records the use of
// secret-based tokens.
func NewAuthenticator(pub *ecdsa.PublicKey, iss string, audiences []string, getter Getter, tracker LegacyTokenTracker, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Authenticator{pub: pub, issuer: iss, audiences: audiences, getter: getter, tracker: tracker, logger: logger, now: time.Now}
}

// AuthenticateToken implements authenticator.Token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if strings.Count(token, ".") != 2 {
		return nil, false, nil
	}
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return nil, false, nil // not a JWT
	}
	switch unverified.Issuer {
	case a.issuer:
	case LegacyIssuer:
		return a.authenticateLegacy(ctx, token)
	default:
		return nil, false, nil // not ours
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(a.issuer),
		jwt.WithLeeway(leeway), jwt.WithIssuedAt(), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired())
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, false, errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, false, errors.New("service account token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, false, errors.New("service account token is issued in the future")
	default:
		return nil, false, fmt.Errorf("invalid service account token: %w", err)
	}
	targets := a.audiences
	if auds, ok := authenticator.AudiencesFrom(ctx); ok {
		targets = auds
	}
	accepted := targets.Intersect(authenticator.Audiences(c.Audience))
	if len(accepted) == 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(c.Audience), []string(targets))
	}
	info, err := a.validate(ctx, &c)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: info.UserInfo(), Audiences: accepted}, true, nil
}

// validate checks that what the token names still exists, as upstream's
// validator: things deleted more than a leeway ago invalidate it.
func (a *Authenticator) validate(ctx context.Context, c *claims) (*serviceaccount.ServiceAccountInfo, error) {
	k := c.Kubernetes
	deletedBefore := a.now().Add(-leeway)
	sa, err := a.getter.ServiceAccount(ctx, k.Namespace, k.Svcacct.Name)
	if err != nil {
		a.logger.Debug("service account token: service account not found", "namespace", k.Namespace, "name", k.Svcacct.Name, "err", err)
		return nil, err
	}
	if string(sa.UID) != k.Svcacct.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.Svcacct.UID)
	}
	if gone(sa, deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", k.Namespace, k.Svcacct.Name)
	}
	if r := k.Secret; r != nil {
		s, err := a.getter.Secret(ctx, k.Namespace, r.Name)
		if err := checkBound("secret", s, err, r.UID, deletedBefore); err != nil {
			return nil, err
		}
	}
	info := &serviceaccount.ServiceAccountInfo{Namespace: k.Namespace, Name: k.Svcacct.Name, UID: k.Svcacct.UID,
		CredentialID: authjwt.CredentialIDForJTI(c.ID)}
	if r := k.Pod; r != nil {
		p, err := a.getter.Pod(ctx, k.Namespace, r.Name)
		if err := checkBound("pod", p, err, r.UID, deletedBefore); err != nil {
			return nil, err
		}
		info.PodName, info.PodUID = r.Name, r.UID
	}
	if r := k.Node; r != nil {
		// A pod-bound token names its node for information only.
		if k.Pod == nil {
			n, err := a.getter.Node(ctx, r.Name)
			if err := checkBound("node", n, err, r.UID, deletedBefore); err != nil {
				return nil, err
			}
		}
		info.NodeName, info.NodeUID = r.Name, r.UID
	}
	return info, nil
}

// checkBound checks an object a token is bound to: it was found (getErr is
// nil), has the claimed UID and was not deleted before deletedBefore.
func checkBound(kind string, obj metav1.Object, getErr error, claimUID string, deletedBefore time.Time) error {
	if getErr != nil {
		return errInvalidated
	}
	if string(obj.GetUID()) != claimUID {
		return fmt.Errorf("%s UID (%s) does not match service account %s ref claim (%s)", kind, obj.GetUID(), kind, claimUID)
	}
	if gone(obj, deletedBefore) {
		return errInvalidated
	}
	return nil
}

func gone(obj metav1.Object, deletedBefore time.Time) bool {
	ts := obj.GetDeletionTimestamp()
	return ts != nil && ts.Time.Before(deletedBefore)
}
