package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// tokenClient is a client that authenticates with token only.
func tokenClient(t *testing.T, ts *testserver.Server, token string) kubernetes.Interface {
	t.Helper()
	cfg := rest.AnonymousClientConfig(ts.Config)
	cfg.BearerToken = token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// The TokenRequest API and the service account admission, through the
// whole server: pods get the token volume, tokens are issued with
// upstream's defaults and errors, and authenticate as the service account
// until the pod they are bound to is gone.
func TestServiceAccountTokens(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sas := ts.Client.CoreV1().ServiceAccounts("team")
	pods := ts.Client.CoreV1().Pods("team")

	// The admission waits for the controller's "default" account.
	pod, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := pod.Spec; s.ServiceAccountName != "default" || s.DeprecatedServiceAccount != "default" || len(s.Volumes) != 1 || s.Volumes[0].Projected == nil ||
		len(s.Containers[0].VolumeMounts) != 1 || s.Containers[0].VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" ||
		len(s.Tolerations) != 2 || s.Priority == nil || *s.Priority != 0 {
		t.Errorf("admitted pod spec: %+v", s)
	}
	_, err = pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: corev1.PodSpec{ServiceAccountName: "ghost", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "q" is forbidden: error looking up service account team/ghost: serviceaccount "ghost" not found` {
		t.Errorf("pod with a missing service account: %v", err)
	}

	// Defaults: an hour, the API's audience.
	before := time.Now()
	tr, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *tr.Spec.ExpirationSeconds != 3600 || len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "https://kubernetes.default.svc.cluster.local" ||
		tr.Name != "default" || tr.Namespace != "team" || tr.UID == "" || tr.Status.Token == "" {
		t.Errorf("token request: %+v", tr)
	}
	if exp := tr.Status.ExpirationTimestamp.Time; exp.Before(before.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("expires %v, want an hour after %v", exp, before)
	}
	review, err := tokenClient(t, ts, tr.Status.Token).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != "system:serviceaccount:team:default" || u.UID != string(tr.UID) ||
		strings.Join(u.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:team,system:authenticated" {
		t.Errorf("token user: %+v", u)
	}

	// Upstream's errors.
	for name, tc := range map[string]struct {
		sa   string
		spec authenticationv1.TokenRequestSpec
		is   func(error) bool
		msg  string
	}{
		"too short": {"default", authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(599))}, apierrors.IsInvalid,
			`TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes`},
		"too long": {"default", authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(1<<32 + 1))}, apierrors.IsInvalid,
			"may not specify a duration larger than 2^32 seconds"},
		"unknown account": {"ghost", authenticationv1.TokenRequestSpec{}, apierrors.IsNotFound, `serviceaccounts "ghost" not found`},
		"pod runs as another account": {"other", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p"}},
			apierrors.IsBadRequest, `cannot bind token for serviceaccount "other" to pod running with different serviceaccount name.`},
		"stale pod UID": {"default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: types.UID("nope")}},
			apierrors.IsConflict, `Operation cannot be fulfilled on Pod "p": the UID in the bound object reference (nope) does not match the UID in record. The object might have been deleted and then recreated`},
		"unsupported kind": {"default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Job", APIVersion: "batch/v1", Name: "j"}},
			apierrors.IsBadRequest, "cannot bind token to object of type batch/v1, Kind=Job"},
		"missing pod": {"default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "gone"}},
			apierrors.IsNotFound, `pods "gone" not found`},
	} {
		if name == "pod runs as another account" {
			if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		_, err := sas.CreateToken(ctx, tc.sa, &authenticationv1.TokenRequest{Spec: tc.spec}, metav1.CreateOptions{})
		if !tc.is(err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", name, err, tc.msg)
		}
	}

	// A pod's volume asks for 3607 s: the token lasts a year and warns
	// after the 3607 s, while the status says 3607 s.
	tr, err = sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: new(int64(3607)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := jwtClaims(t, tr.Status.Token)
	k8s := c["kubernetes.io"].(map[string]any)
	if life := c["exp"].(float64) - c["iat"].(float64); life != 365*24*3600 || k8s["warnafter"].(float64)-c["iat"].(float64) != 3607 ||
		k8s["pod"].(map[string]any)["uid"] != string(pod.UID) {
		t.Errorf("pod token claims: %v", c)
	}
	if d := tr.Status.ExpirationTimestamp.Sub(tr.CreationTimestamp.Time); d < 3606*time.Second || d > 3608*time.Second {
		t.Errorf("status expiration %v after creation", d)
	}
	podClient := tokenClient(t, ts, tr.Status.Token)
	review, err = podClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "p" {
		t.Errorf("extra pod-name %v", got)
	}
	// The account has no rights yet: RBAC says so in upstream's words.
	_, err = podClient.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "system:serviceaccount:team:default" cannot list resource "pods" in API group "" in the namespace "team"`) {
		t.Errorf("listing pods without a binding: %v", err)
	}
	// Once the pod is gone, so is the token (after the 10 s for which the
	// server keeps a token's answer).
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		_, err := podClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return apierrors.IsUnauthorized(err), nil
	})
}

// Secret-based tokens: the tokens controller fills a
// kubernetes.io/service-account-token Secret, the token authenticates while
// the Secret holds it and its account exists, and the Secret goes with the
// account.
func TestServiceAccountTokens_SecretBased(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{Runtime: "fake"})
	ctx := context.Background()
	sas, secrets := ts.Client.CoreV1().ServiceAccounts("default"), ts.Client.CoreV1().Secrets("default")
	sa, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokenSecret := func(name, account string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.ServiceAccountNameKey: account}},
			Type: corev1.SecretTypeServiceAccountToken}
	}
	if _, err := secrets.Create(ctx, tokenSecret("robot-token", "robot"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, tokenSecret("ghost-token", "ghost"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var secret *corev1.Secret
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		secret, err = secrets.Get(ctx, "robot-token", metav1.GetOptions{})
		return err == nil && len(secret.Data["token"]) > 0, err
	})
	if string(secret.Data["namespace"]) != "default" || !strings.HasPrefix(string(secret.Data["ca.crt"]), "-----BEGIN CERTIFICATE-----") ||
		secret.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID) {
		t.Errorf("filled secret: data keys %v, annotations %v", len(secret.Data), secret.Annotations)
	}
	token := string(secret.Data["token"])
	if c := jwtClaims(t, token); c["iss"] != "kubernetes/serviceaccount" || c["kubernetes.io/serviceaccount/secret.name"] != "robot-token" || c["exp"] != nil {
		t.Errorf("legacy claims %v", c)
	}
	client := tokenClient(t, ts, token)
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if review.Status.UserInfo.Username != "system:serviceaccount:default:robot" {
		t.Errorf("user %+v", review.Status.UserInfo)
	}
	if secret, err = secrets.Get(ctx, "robot-token", metav1.GetOptions{}); err != nil || secret.Labels["kubernetes.io/legacy-token-last-used"] != time.Now().UTC().Format("2006-01-02") {
		t.Errorf("last-used label: %v %v", secret.Labels, err)
	}
	// A Secret whose account does not exist is deleted.
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		_, err := secrets.Get(ctx, "ghost-token", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// A token that is not the Secret's copy is refused (once the server's
	// 10 s answer cache has let go of it).
	secret.Data["token"] = []byte("changed")
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		_, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return apierrors.IsUnauthorized(err), nil
	})
	// A deleted token Secret leaves its account's secrets list.
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot2"},
		Secrets: []corev1.ObjectReference{{Name: "r2-token"}, {Name: "kept"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, tokenSecret("r2-token", "robot2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		s, err := secrets.Get(ctx, "r2-token", metav1.GetOptions{})
		return err == nil && len(s.Data["token"]) > 0, err
	})
	if err := secrets.Delete(ctx, "r2-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		sa, err := sas.Get(ctx, "robot2", metav1.GetOptions{})
		return err == nil && len(sa.Secrets) == 1 && sa.Secrets[0].Name == "kept", err
	})
	// Deleting the account deletes its token Secret.
	if err := sas.Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		_, err := secrets.Get(ctx, "robot-token", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// Service account issuer discovery: a service account (and only one, by
// default) reads the OpenID configuration and the key set, and the key set
// verifies the tokens.
func TestServiceAccountIssuerDiscovery(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	var tr *authenticationv1.TokenRequest
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		var err error
		tr, err = ts.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err == nil, nil
	})
	get := func(token, path string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		tr, err := rest.TransportFor(rest.AnonymousClientConfig(ts.Config))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, body
	}
	code, _, body := get(tr.Status.Token, "/.well-known/openid-configuration")
	var config struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(body, &config); code != http.StatusOK || err != nil ||
		config.Issuer != "https://kubernetes.default.svc.cluster.local" || config.JWKSURI != ts.URL()+"/openid/v1/jwks" || len(config.Algs) != 1 || config.Algs[0] != "ES256" {
		t.Fatalf("openid-configuration: %d %s", code, body)
	}
	code, header, body := get(tr.Status.Token, "/openid/v1/jwks")
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X, Y string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); code != http.StatusOK || err != nil || len(set.Keys) != 1 || header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %s", code, body)
	}
	k := set.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tr.Status.Token, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != k.Kid {
			return nil, fmt.Errorf("kid %v, key set has %s", tok.Header["kid"], k.Kid)
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !parsed.Valid {
		t.Errorf("the published key does not verify the token: %v", err)
	}
	// The admin is not a service account: RBAC's default binding is for
	// service accounts only.
	if code, _, body := get(ts.Config.BearerToken, "/openid/v1/jwks"); code != http.StatusOK {
		t.Errorf("admin (system:masters): %d %s", code, body)
	}
	alice := issueToken(t, ts, "alice")
	if code, _, _ := get(alice.Token, "/.well-known/openid-configuration"); code != http.StatusForbidden {
		t.Errorf("a user without a binding: %d, want 403", code)
	}
}
