// Package auth_test exercises Skiff's authentication, authorization and
// protective filters (internal/auth.Wrap) end to end over HTTP, with a stub
// API handler behind them, a real TokenStore on embedded etcd and the
// bootstrap RBAC policy.
package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/storage"
)

// memLister is an auth.RBACLister over slices, guarded by mu so tests can
// add bindings while requests run.
type memLister struct {
	mu                  sync.RWMutex
	roles               []*rbacv1.Role
	clusterRoles        []*rbacv1.ClusterRole
	roleBindings        []*rbacv1.RoleBinding
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
}

func newBootstrapLister() *memLister {
	l := &memLister{}
	for _, r := range rbac.BootstrapClusterRoles() {
		l.clusterRoles = append(l.clusterRoles, r.DeepCopy())
	}
	for _, b := range rbac.BootstrapClusterRoleBindings() {
		l.clusterRoleBindings = append(l.clusterRoleBindings, b.DeepCopy())
	}
	return l
}

// bindAdmin binds ClusterRole admin to user in namespace, as `skiff tenant
// create` does.
func (l *memLister) bindAdmin(userName, namespace string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roleBindings = append(l.roleBindings, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-admin", Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: userName}},
	})
}

func (l *memLister) GetRole(_ context.Context, ns, name string) (*rbacv1.Role, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, r := range l.roles {
		if r.Namespace == ns && r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "role"}, name)
}

func (l *memLister) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, r := range l.clusterRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrole"}, name)
}

func (l *memLister) ListClusterRoles(context.Context) ([]*rbacv1.ClusterRole, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]*rbacv1.ClusterRole(nil), l.clusterRoles...), nil
}

func (l *memLister) ListRoleBindings(_ context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*rbacv1.RoleBinding
	for _, b := range l.roleBindings {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out, nil
}

func (l *memLister) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]*rbacv1.ClusterRoleBinding(nil), l.clusterRoleBindings...), nil
}

// stub is the API handler behind the filters: 200 {"served":true}, or, for
// requests with ?block=1, it waits until released or the request's context
// ends.
type stub struct {
	inFlight  atomic.Int64
	completed atomic.Int64
	release   chan struct{}
	abandoned atomic.Int64
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if r.URL.Query().Get("block") == "1" {
		select {
		case <-s.release:
		case <-r.Context().Done():
			s.abandoned.Add(1)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"served":true}`)
	s.completed.Add(1)
}

// env is a running filter chain.
type env struct {
	srv    *httptest.Server
	stub   *stub
	tokens *auth.TokenStore
	lister *memLister
	admin  string
	now    *atomic.Pointer[time.Time]
	audit  *syncBuffer
}

type envOptions struct {
	maxReadOnly, maxMutating int
	timeout                  time.Duration
}

func startEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	etcd, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: t.TempDir(), CompactionRetention: -1})
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(etcd.Close)
	now := &atomic.Pointer[time.Time]{}
	start := time.Now()
	now.Store(&start)
	tokens, err := auth.NewTokenStore(auth.TokenStoreConfig{Storage: storage.NewEtcd(etcd.Client(), "/registry"), Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stub: &stub{release: make(chan struct{})}, tokens: tokens, lister: newBootstrapLister(), admin: "admin-secret-token", now: now, audit: &syncBuffer{}}
	authn := auth.NewRequestAuthenticator(auth.StaticTokens(map[string]user.Info{e.admin: auth.AdminInfo()}), tokens)
	authz := auth.NewRBAC(e.lister)
	wrap, err := auth.Wrap(auth.FilterConfig{
		Authenticator: authn, Authorizer: authz, Tokens: tokens, Reviews: auth.NewReviews(authz, authz),
		MaxRequestsInFlight: opts.maxReadOnly, MaxMutatingRequestsInFlight: opts.maxMutating, RequestTimeout: opts.timeout,
		AuditLog: auth.NewAuditLog(e.audit),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(withRequestInfo(wrap(e.stub)))
	t.Cleanup(func() {
		close(e.stub.release)
		e.srv.Close()
	})
	return e
}

// withRequestInfo does what internal/apiserver does before its Wrap.
func withRequestInfo(next http.Handler) http.Handler {
	infos := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := infos.NewRequestInfo(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

// response is what a test looks at.
type response struct {
	code   int
	header http.Header
	body   string
}

func (e *env) do(t *testing.T, method, path string, headers map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: strings.TrimSpace(string(data))}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// issue creates a token through the store.
func (e *env) issue(t *testing.T, userName string, ttl time.Duration) (string, string) {
	t.Helper()
	tok, info, err := e.tokens.Create(context.Background(), auth.TokenRequest{User: userName, TTL: ttl})
	if err != nil {
		t.Fatalf("issuing token for %s: %v", userName, err)
	}
	return tok, info.ID
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []auth.AuditEvent {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []auth.AuditEvent
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var ev auth.AuditEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, ev)
	}
	return out
}

// pollUntil calls fn until it returns true or fails the test after timeout.
func pollUntil(t *testing.T, timeout time.Duration, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
