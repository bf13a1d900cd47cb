package secret

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	sort.Strings(out)
	return out
}

func newSecret(mutate func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pw", Namespace: "default", ResourceVersion: "1"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("x")},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want *corev1.Secret
	}{
		"an empty type becomes Opaque": {
			in:   &corev1.Secret{},
			want: &corev1.Secret{Type: corev1.SecretTypeOpaque},
		},
		"a set type is kept": {
			in:   &corev1.Secret{Type: corev1.SecretTypeTLS},
			want: &corev1.Secret{Type: corev1.SecretTypeTLS},
		},
		"stringData is folded into data and wins": {
			in: &corev1.Secret{
				Data:       map[string][]byte{"a": []byte("old"), "b": []byte("keep")},
				StringData: map[string]string{"a": "new", "c": "added"},
			},
			want: &corev1.Secret{
				Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"a": []byte("new"), "b": []byte("keep"), "c": []byte("added")},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			SetDefaults(tc.in)
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("SetDefaults mismatch (-want +got):\n%s", diff)
			}
			again := tc.in.DeepCopy()
			SetDefaults(again)
			if diff := cmp.Diff(tc.in, again); diff != "" {
				t.Errorf("SetDefaults is not idempotent (-first +second):\n%s", diff)
			}
		})
	}
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		s    *corev1.Secret
		want []string
	}{
		"an opaque secret passes": {s: newSecret(nil)},
		"an invalid key is rejected": {
			s:    newSecret(func(s *corev1.Secret) { s.Data = map[string][]byte{"a/b": nil} }),
			want: []string{`data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`},
		},
		"data over 1 MiB is rejected": {
			s:    newSecret(func(s *corev1.Secret) { s.Data = map[string][]byte{"a": make([]byte, MaxSize+1)} }),
			want: []string{"data: Too long: may not be more than 1048576 bytes"},
		},
		"a service account token secret needs the account name annotation": {
			s:    newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken }),
			want: []string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"},
		},
		"a service account token secret with the annotation passes": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeServiceAccountToken
				s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
			}),
		},
		"a dockerconfigjson secret needs its key": {
			s:    newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson }),
			want: []string{"data[.dockerconfigjson]: Required value"},
		},
		"a dockerconfigjson secret needs JSON": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeDockerConfigJson
				s.Data = map[string][]byte{".dockerconfigjson": []byte("{")}
			}),
			want: []string{`data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input`},
		},
		"a dockercfg secret needs its key": {
			s:    newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockercfg }),
			want: []string{"data[.dockercfg]: Required value"},
		},
		"a basic-auth secret needs a username or a password": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeBasicAuth
				s.Data = nil
			}),
			want: []string{"data[password]: Required value", "data[username]: Required value"},
		},
		"a basic-auth secret with only a password passes": {
			s: newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth }),
		},
		"an ssh-auth secret needs a non-empty private key": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeSSHAuth
				s.Data = map[string][]byte{"ssh-privatekey": {}}
			}),
			want: []string{"data[ssh-privatekey]: Required value"},
		},
		"a tls secret needs a certificate and a key": {
			s:    newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS }),
			want: []string{"data[tls.crt]: Required value", "data[tls.key]: Required value"},
		},
		"an unknown type has no key rules": {
			s: newSecret(func(s *corev1.Secret) { s.Type = "example.com/custom"; s.Data = nil }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.s))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	immutable := true
	tests := map[string]struct {
		old, s *corev1.Secret
		want   []string
	}{
		"changing data of a mutable secret is allowed": {
			old: newSecret(nil),
			s:   newSecret(func(s *corev1.Secret) { s.Data["password"] = []byte("y") }),
		},
		"changing the type is rejected": {
			old:  newSecret(nil),
			s:    newSecret(func(s *corev1.Secret) { s.Type = "example.com/other" }),
			want: []string{`type: Invalid value: "example.com/other": field is immutable`},
		},
		"changing data of an immutable secret is forbidden": {
			old: newSecret(func(s *corev1.Secret) { s.Immutable = &immutable }),
			s: newSecret(func(s *corev1.Secret) {
				s.Immutable = &immutable
				s.Data["password"] = []byte("y")
			}),
			want: []string{"data: Forbidden: field is immutable when `immutable` is set"},
		},
		"dropping immutable is forbidden": {
			old:  newSecret(func(s *corev1.Secret) { s.Immutable = &immutable }),
			s:    newSecret(nil),
			want: []string{"immutable: Forbidden: field is immutable when `immutable` is set"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.ValidateUpdate(context.Background(), tc.s, tc.old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForUpdate_KeepsOldTypeWhenEmpty(t *testing.T) {
	t.Parallel()
	old := newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth })
	s := newSecret(func(s *corev1.Secret) { s.Type = ""; s.StringData = map[string]string{"username": "u"} })
	Strategy.PrepareForUpdate(context.Background(), s, old)
	want := newSecret(func(s *corev1.Secret) {
		s.Type = corev1.SecretTypeBasicAuth
		s.Data["username"] = []byte("u")
	})
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("PrepareForUpdate mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_WarningsOnCreate(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	tests := map[string]struct {
		s    *corev1.Secret
		want []string
	}{
		"a matching tls key pair has no warning": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeTLS
				s.Data = map[string][]byte{"tls.crt": cert, "tls.key": key}
			}),
		},
		"a broken tls certificate is a warning": {
			s: newSecret(func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeTLS
				s.Data = map[string][]byte{"tls.crt": []byte("x"), "tls.key": key}
			}),
			want: []string{"tls: failed to find any PEM data in certificate input"},
		},
		"an opaque secret has no warning": {s: newSecret(nil)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Strategy.WarningsOnCreate(context.Background(), tc.s)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("WarningsOnCreate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	_, f, err := GetAttrs(newSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS }))
	if err != nil {
		t.Fatal(err)
	}
	want := fields.Set{"metadata.name": "pw", "metadata.namespace": "default", "type": "kubernetes.io/tls"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&corev1.ConfigMap{}); err == nil {
		t.Error("GetAttrs(ConfigMap) returned no error")
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(Strategy.Validate(context.Background(), &corev1.ConfigMap{}).ToAggregate().Error(), "unexpected object type") {
		t.Error("Validate(ConfigMap) did not report the wrong type")
	}
}
