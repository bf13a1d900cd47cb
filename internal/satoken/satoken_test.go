package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// objects is a Getter over maps.
type objects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func notFound(r, name string) error { return apierrors.NewNotFound(corev1.Resource(r), name) }

func (o *objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if v, ok := o.sas[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if v, ok := o.pods[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, notFound("pods", name)
}

func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if v, ok := o.secrets[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, notFound("secrets", name)
}

func (o *objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if v, ok := o.nodes[name]; ok {
		return v, nil
	}
	return nil, notFound("nodes", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

func setup(t *testing.T) (*Issuer, *Authenticator, *objects, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewIssuer(key, DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	o := &objects{
		sas:     map[string]*corev1.ServiceAccount{"team/builder": {ObjectMeta: meta("team", "builder", "sa-1")}},
		pods:    map[string]*corev1.Pod{"team/job-abc": {ObjectMeta: meta("team", "job-abc", "pod-1")}},
		secrets: map[string]*corev1.Secret{"team/s": {ObjectMeta: meta("team", "s", "secret-1")}},
		nodes:   map[string]*corev1.Node{"vm": {ObjectMeta: meta("", "vm", "node-1")}},
	}
	return is, NewAuthenticator(&key.PublicKey, DefaultIssuer, authenticator.Audiences{DefaultIssuer}, o, nil, nil), o, key
}

func TestIssueAndAuthenticate_PodBound(t *testing.T) {
	is, a, o, _ := setup(t)
	now := time.Now()
	tok, jti, err := is.Issue(o.sas["team/builder"], Binding{Pod: o.pods["team/job-abc"], Node: o.nodes["vm"]}, []string{DefaultIssuer}, now, 3600, 600)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok, err := a.AuthenticateToken(context.Background(), tok)
	if err != nil || !ok {
		t.Fatalf("authenticate: ok %v, err %v", ok, err)
	}
	u := resp.User
	if u.GetName() != "system:serviceaccount:team:builder" || u.GetUID() != "sa-1" {
		t.Errorf("user %q uid %q", u.GetName(), u.GetUID())
	}
	if g := strings.Join(u.GetGroups(), ","); g != "system:serviceaccounts,system:serviceaccounts:team" {
		t.Errorf("groups %s", g)
	}
	extra := u.GetExtra()
	for k, want := range map[string]string{
		"authentication.kubernetes.io/pod-name": "job-abc", "authentication.kubernetes.io/pod-uid": "pod-1",
		"authentication.kubernetes.io/node-name": "vm", "authentication.kubernetes.io/node-uid": "node-1",
		"authentication.kubernetes.io/credential-id": "JTI=" + jti,
	} {
		if got := extra[k]; len(got) != 1 || got[0] != want {
			t.Errorf("extra %s = %v, want %s", k, got, want)
		}
	}
	// The claims upstream's tokens carry.
	var c map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	k8s := c["kubernetes.io"].(map[string]any)
	if c["iss"] != DefaultIssuer || c["sub"] != "system:serviceaccount:team:builder" || k8s["namespace"] != "team" ||
		k8s["warnafter"] != float64(now.Unix()+600) || c["exp"] != float64(now.Unix()+3600) {
		t.Errorf("claims %v", c)
	}

	// Deleting the pod invalidates the token; so does a pod of the same
	// name with another UID.
	delete(o.pods, "team/job-abc")
	if _, ok, err := a.AuthenticateToken(context.Background(), tok); ok || err == nil || err.Error() != "service account token has been invalidated" {
		t.Errorf("pod gone: ok %v, err %v", ok, err)
	}
	o.pods["team/job-abc"] = &corev1.Pod{ObjectMeta: meta("team", "job-abc", "pod-2")}
	if _, ok, err := a.AuthenticateToken(context.Background(), tok); ok || err == nil || !strings.Contains(err.Error(), "pod UID (pod-2) does not match") {
		t.Errorf("pod replaced: ok %v, err %v", ok, err)
	}
	// A pod deleted (gracefully) more than a minute ago no longer counts.
	old := metav1.NewTime(now.Add(-2 * time.Minute))
	o.pods["team/job-abc"] = &corev1.Pod{ObjectMeta: meta("team", "job-abc", "pod-1")}
	o.pods["team/job-abc"].DeletionTimestamp = &old
	if _, ok, _ := a.AuthenticateToken(context.Background(), tok); ok {
		t.Error("token of a pod deleted two minutes ago authenticated")
	}
}

func TestAuthenticate_Rejections(t *testing.T) {
	is, a, o, _ := setup(t)
	sa := o.sas["team/builder"]
	now := time.Now()
	issue := func(b Binding, auds []string, at time.Time, exp int64) string {
		t.Helper()
		tok, _, err := is.Issue(sa, b, auds, at, exp, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherIssuer, _ := NewIssuer(otherKey, DefaultIssuer)
	forged, _, _ := otherIssuer.Issue(sa, Binding{}, []string{DefaultIssuer}, now, 3600, 0)
	foreignIssuer, _ := NewIssuer(otherKey, "https://elsewhere")
	foreign, _, _ := foreignIssuer.Issue(sa, Binding{}, []string{DefaultIssuer}, now, 3600, 0)
	good := issue(Binding{Secret: o.secrets["team/s"]}, []string{DefaultIssuer}, now, 3600)

	for name, tc := range map[string]struct {
		token   string
		ours    bool // an error is expected; otherwise (nil, false, nil)
		message string
	}{
		"not a JWT":        {token: "0123456789abcdef.secret"},
		"another issuer":   {token: foreign},
		"forged signature": {token: forged, ours: true, message: "invalid service account token"},
		"tampered":         {token: good[:len(good)-4] + "AAAA", ours: true, message: "invalid service account token"},
		"expired":          {token: issue(Binding{}, []string{DefaultIssuer}, now.Add(-2*time.Hour), 3600), ours: true, message: "service account token has expired"},
		"not valid yet":    {token: issue(Binding{}, []string{DefaultIssuer}, now.Add(time.Hour), 3600), ours: true},
		"another audience": {token: issue(Binding{}, []string{"vault"}, now, 3600), ours: true, message: `token audiences ["vault"] is invalid for the target audiences ["` + DefaultIssuer + `"]`},
		"unknown SA": {token: func() string {
			tok, _, _ := is.Issue(&corev1.ServiceAccount{ObjectMeta: meta("team", "ghost", "x")}, Binding{}, []string{DefaultIssuer}, now, 3600, 0)
			return tok
		}(), ours: true, message: `serviceaccounts "ghost" not found`},
		"secret gone":      {token: issue(Binding{Secret: &corev1.Secret{ObjectMeta: meta("team", "gone", "g")}}, []string{DefaultIssuer}, now, 3600), ours: true, message: "service account token has been invalidated"},
		"node-bound, gone": {token: issue(Binding{Node: &corev1.Node{ObjectMeta: meta("", "n2", "n")}}, []string{DefaultIssuer}, now, 3600), ours: true, message: "service account token has been invalidated"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if ok || resp != nil {
				t.Fatalf("authenticated as %v", resp.User)
			}
			if !tc.ours {
				if err != nil {
					t.Fatalf("not our token, but error %v", err)
				}
				return
			}
			if err == nil || (tc.message != "" && !strings.Contains(err.Error(), tc.message)) {
				t.Fatalf("error %v, want %q", err, tc.message)
			}
		})
	}
	if _, ok, err := a.AuthenticateToken(context.Background(), good); !ok || err != nil {
		t.Errorf("secret-bound token: ok %v err %v", ok, err)
	}
	// A service account recreated under the same name is another account.
	o.sas["team/builder"] = &corev1.ServiceAccount{ObjectMeta: meta("team", "builder", "sa-2")}
	if _, ok, err := a.AuthenticateToken(context.Background(), good); ok || err == nil || !strings.Contains(err.Error(), "service account UID (sa-2) does not match claim (sa-1)") {
		t.Errorf("recreated SA: ok %v err %v", ok, err)
	}
}

func TestLoadOrCreateKey_Reused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sa.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("a second start made a new key: tokens issued before would stop working")
	}
}

// tracker records MarkUsed calls.
type tracker struct{ days []string }

func (tr *tracker) MarkUsed(_ context.Context, _, _, day string) error {
	tr.days = append(tr.days, day)
	return nil
}

func TestAuthenticate_SecretBased(t *testing.T) {
	is, _, o, key := setup(t)
	tr := &tracker{}
	a := NewAuthenticator(&key.PublicKey, DefaultIssuer, authenticator.Audiences{DefaultIssuer}, o, tr, nil)
	tok, err := is.IssueLegacy(o.sas["team/builder"], "s")
	if err != nil {
		t.Fatal(err)
	}
	o.secrets["team/s"].Data = map[string][]byte{"token": []byte(tok)}
	resp, ok, err := a.AuthenticateToken(context.Background(), tok)
	if err != nil || !ok || resp.User.GetName() != "system:serviceaccount:team:builder" || resp.User.GetUID() != "sa-1" {
		t.Fatalf("ok %v err %v resp %+v", ok, err, resp)
	}
	if len(tr.days) != 1 || tr.days[0] != time.Now().UTC().Format("2006-01-02") {
		t.Errorf("use not recorded: %v", tr.days)
	}
	o.secrets["team/s"].Labels = map[string]string{LegacyTokenLastUsedLabel: tr.days[0]}
	if _, ok, _ := a.AuthenticateToken(context.Background(), tok); !ok || len(tr.days) != 1 {
		t.Errorf("a second use the same day: ok %v, recorded %v", ok, tr.days)
	}
	for name, mutate := range map[string]func(){
		"secret holds another token": func() { o.secrets["team/s"].Data["token"] = []byte("other") },
		"secret gone":                func() { delete(o.secrets, "team/s") },
		"invalidated":                func() { o.secrets["team/s"].Labels[LegacyTokenInvalidSinceLabel] = "2026-01-01" },
		"account recreated":          func() { o.sas["team/builder"] = &corev1.ServiceAccount{ObjectMeta: meta("team", "builder", "sa-2")} },
	} {
		saved := o.secrets["team/s"].DeepCopy()
		savedSA := o.sas["team/builder"]
		mutate()
		if _, ok, err := a.AuthenticateToken(context.Background(), tok); ok || err == nil {
			t.Errorf("%s: authenticated", name)
		}
		o.secrets["team/s"], o.sas["team/builder"] = saved, savedSA
	}
	// Signed by another key: refused, not passed on.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := NewIssuer(otherKey, DefaultIssuer)
	forged, _ := other.IssueLegacy(o.sas["team/builder"], "s")
	if _, ok, err := a.AuthenticateToken(context.Background(), forged); ok || err == nil {
		t.Errorf("forged legacy token: ok %v err %v", ok, err)
	}
}
