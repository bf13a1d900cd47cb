package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/storage"
)

type fakeIssuer struct{ got []auth.CreateTokenRequest }

func (f *fakeIssuer) create(_ context.Context, req auth.CreateTokenRequest) (*auth.CreatedToken, error) {
	f.got = append(f.got, req)
	return &auth.CreatedToken{TokenInfo: auth.TokenInfo{ID: "0123456789abcdef", User: req.User}, Token: "0123456789abcdef.secret"}, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestCreateTenant_NamespacesBindingsToken(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shared"}})
	issuer := &fakeIssuer{}
	var out bytes.Buffer
	if err := createTenant(t.Context(), &out, cs, issuer, "alice", []string{"team-a", "shared"}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(out.String()); got != "0123456789abcdef.secret" {
		t.Errorf("last line = %q, want the token", got)
	}
	for _, ns := range []string{"team-a", "shared"} {
		n, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if err != nil || n.Annotations[TenantAnnotation] != "alice" {
			t.Errorf("namespace %s: %v %v", ns, n.GetAnnotations(), err)
		}
		rb, err := cs.RbacV1().RoleBindings(ns).Get(t.Context(), tenantBindingName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("rolebinding in %s: %v", ns, err)
		}
		if rb.RoleRef.Name != "admin" || rb.RoleRef.Kind != "ClusterRole" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != "alice" || rb.Subjects[0].Kind != "User" {
			t.Errorf("rolebinding in %s = %+v", ns, rb)
		}
	}
	if diff := cmp.Diff([]auth.CreateTokenRequest{{User: "alice", TTL: "24h0m0s"}}, issuer.got); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
	// Idempotent for the same tenant, refused for another.
	if err := createTenant(t.Context(), &out, cs, issuer, "alice", []string{"team-a"}, 0); err != nil {
		t.Errorf("second create: %v", err)
	}
	if err := createTenant(t.Context(), &out, cs, issuer, "bob", []string{"team-a"}, 0); err == nil || !strings.Contains(err.Error(), `belongs to tenant "alice"`) {
		t.Errorf("other tenant's namespace: %v", err)
	}
}

// startTokenServer serves the token API through auth.Wrap over TLS and
// returns an admin kubeconfig for it.
func startTokenServer(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	etcd, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: t.TempDir(), CompactionRetention: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	tokens, err := auth.NewTokenStore(auth.TokenStoreConfig{Storage: storage.NewEtcd(etcd.Client(), "/registry")})
	if err != nil {
		t.Fatal(err)
	}
	lister := &staticLister{}
	for _, r := range rbac.BootstrapClusterRoles() {
		lister.roles = append(lister.roles, r.DeepCopy())
	}
	for _, b := range rbac.BootstrapClusterRoleBindings() {
		lister.bindings = append(lister.bindings, b.DeepCopy())
	}
	authz := auth.NewRBAC(lister)
	wrap, err := auth.Wrap(auth.FilterConfig{
		Authenticator: auth.NewRequestAuthenticator(auth.StaticTokens(map[string]user.Info{"admin-token": auth.AdminInfo()}), tokens),
		Authorizer:    authz, Tokens: tokens,
	})
	if err != nil {
		t.Fatal(err)
	}
	infos := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	inner := wrap(http.NotFoundHandler())
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := infos.NewRequestInfo(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		inner.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	}))
	t.Cleanup(srv.Close)
	cfg := clientcmdapi.NewConfig()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg.Clusters["skiff"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "admin-token"}
	cfg.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "admin"}
	cfg.CurrentContext = "skiff"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newTokenCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestTokenCommands_CreateListRevoke(t *testing.T) {
	kubeconfig := startTokenServer(t)
	out, err := runCLI(t, "create", "--kubeconfig", kubeconfig, "--user", "alice", "--group", "devs", "--ttl", "24h")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	token := lastLine(out)
	id, _, ok := strings.Cut(token, ".")
	if !ok || len(id) != 16 {
		t.Fatalf("last line %q is not a token", token)
	}
	out, err = runCLI(t, "list", "--kubeconfig", kubeconfig)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "alice") || !strings.Contains(out, "devs") || strings.Contains(out, token) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "revoke", "--kubeconfig", kubeconfig, id); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err = runCLI(t, "revoke", "--kubeconfig", kubeconfig, id); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("second revoke: %v", err)
	}
	if _, err = runCLI(t, "create", "--kubeconfig", kubeconfig); err == nil {
		t.Error("create without --user succeeded")
	}
}

// staticLister serves the bootstrap policy to the RBAC authorizer.
type staticLister struct {
	roles    []*rbacv1.ClusterRole
	bindings []*rbacv1.ClusterRoleBinding
}

func (l *staticLister) GetRole(_ context.Context, _, name string) (*rbacv1.Role, error) {
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "role"}, name)
}

func (l *staticLister) ListRoleBindings(context.Context, string) ([]*rbacv1.RoleBinding, error) {
	return nil, nil
}

func (l *staticLister) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	for _, r := range l.roles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrole"}, name)
}

func (l *staticLister) ListClusterRoles(context.Context) ([]*rbacv1.ClusterRole, error) {
	return l.roles, nil
}

func (l *staticLister) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return l.bindings, nil
}
