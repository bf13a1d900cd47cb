package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// unauthorizedBody is upstream's 401 Status.
const unauthorizedBody = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`

// issueTokenTTL creates a Skiff token for user with a lifetime through the
// admin token API.
func issueTokenTTL(t *testing.T, ts *testserver.Server, user string, ttl time.Duration) auth.CreatedToken {
	t.Helper()
	req := auth.CreateTokenRequest{User: user}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	body, _ := json.Marshal(req)
	resp, err := ts.HTTP.Post(ts.URL()+auth.TokenAPIPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var created auth.CreatedToken
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("issuing a token for %s: %d %v", user, resp.StatusCode, err)
	}
	return created
}

// revokeToken revokes a token through the admin token API.
func revokeToken(t *testing.T, ts *testserver.Server, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, ts.URL()+auth.TokenAPIPath+"/"+id, nil)
	resp, err := ts.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoking %s: %d", id, resp.StatusCode)
	}
}

// bindClusterRole binds ClusterRole role to user in namespace.
func bindClusterRole(t *testing.T, ts *testserver.Server, user, role, namespace string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	if _, err := ts.Client.RbacV1().RoleBindings(namespace).Create(context.Background(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("binding %s to %s in %s: %v", role, user, namespace, err)
	}
}

func createNamespaces(t *testing.T, ts *testserver.Server, names ...string) {
	t.Helper()
	for _, ns := range names {
		if _, err := ts.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// anonymousClient trusts the server and sends no credentials of its own.
func anonymousClient(t *testing.T, ts *testserver.Server) *http.Client {
	t.Helper()
	tr, err := rest.TransportFor(rest.AnonymousClientConfig(ts.Config))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// reply is what the matrix compares: the code, and the body for errors.
type reply struct {
	Code int
	Body string
}

// doRequest sends one request. A 200 watch is not read: its stream is
// closed as soon as the status line is in.
func doRequest(t *testing.T, c *http.Client, method, url string, headers map[string]string, contentType, body string) reply {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		if !strings.Contains(url, "watch=") {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		return reply{Code: resp.StatusCode}
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, url, err)
	}
	return reply{Code: resp.StatusCode, Body: canonicalJSON(data)}
}

// canonicalJSON re-encodes a JSON body with sorted keys, so bodies compare
// independently of field order; anything else is returned trimmed.
func canonicalJSON(data []byte) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return string(bytes.TrimSpace(data))
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// forbidden is upstream's 403 Status (responsewriters.Forbidden) for user
// doing verb on resource[/sub] of group, named name, in namespace ns ("" for
// the cluster scope).
func forbidden(user, verb, group, resource, sub, name, ns string) string {
	gr := resource
	if group != "" {
		gr += "." + group
	}
	subject := gr
	if name != "" {
		subject = fmt.Sprintf("%s %q", gr, name)
	}
	full := resource
	if sub != "" {
		full += "/" + sub
	}
	msg := fmt.Sprintf("%s is forbidden: User %q cannot %s resource %q in API group %q", subject, user, verb, full, group)
	if ns != "" {
		msg += fmt.Sprintf(" in the namespace %q", ns)
	} else {
		msg += " at the cluster scope"
	}
	details := map[string]string{"kind": resource}
	if group != "" {
		details["group"] = group
	}
	if name != "" {
		details["name"] = name
	}
	status := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": msg, "reason": "Forbidden", "details": details, "code": 403}
	out, _ := json.Marshal(status)
	return canonicalJSON(out)
}
