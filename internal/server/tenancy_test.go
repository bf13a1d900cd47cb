package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// issueToken creates a Skiff token for user through the admin token API.
func issueToken(t *testing.T, ts *testserver.Server, user string) auth.CreatedToken {
	t.Helper()
	body, _ := json.Marshal(auth.CreateTokenRequest{User: user})
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

// Against the whole server: tokens in X-Auth-Token or Bearer, namespaces
// scoped to their tenant, 401 and 403 with upstream's bodies.
func TestTenancy_TokensAndNamespaces(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}
	if _, err := ts.Client.RbacV1().RoleBindings("team-a").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := issueToken(t, ts, "alice")
	revoked := issueToken(t, ts, "alice")
	req, _ := http.NewRequest(http.MethodDelete, ts.URL()+auth.TokenAPIPath+"/"+revoked.ID, nil)
	if resp, err := ts.HTTP.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoking: %v %v", resp, err)
	}

	tr, err := rest.TransportFor(rest.AnonymousClientConfig(ts.Config))
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Transport: tr}
	const unauthorized = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`
	for name, tc := range map[string]struct {
		headers map[string]string
		path    string
		code    int
		body    string
	}{
		"no token":              {nil, "/apis/batch/v1/namespaces/team-a/jobs", 401, unauthorized},
		"revoked token":         {map[string]string{"X-Auth-Token": revoked.Token}, "/apis/batch/v1/namespaces/team-a/jobs", 401, unauthorized},
		"conflicting headers":   {map[string]string{"X-Auth-Token": alice.Token, "Authorization": "Bearer " + revoked.Token}, "/apis/batch/v1/namespaces/team-a/jobs", 401, unauthorized},
		"own namespace, X-Auth": {map[string]string{"X-Auth-Token": alice.Token}, "/apis/batch/v1/namespaces/team-a/jobs", 200, ""},
		"own namespace, Bearer": {map[string]string{"Authorization": "Bearer " + alice.Token}, "/apis/batch/v1/namespaces/team-a/jobs", 200, ""},
		"other tenant's namespace": {map[string]string{"X-Auth-Token": alice.Token}, "/apis/batch/v1/namespaces/team-b/jobs/pi", 403,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"jobs.batch \"pi\" is forbidden: User \"alice\" cannot get resource \"jobs\" in API group \"batch\" in the namespace \"team-b\"","reason":"Forbidden","details":{"name":"pi","group":"batch","kind":"jobs"},"code":403}`},
		"all namespaces": {map[string]string{"X-Auth-Token": alice.Token}, "/apis/batch/v1/jobs", 403,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"jobs.batch is forbidden: User \"alice\" cannot list resource \"jobs\" in API group \"batch\" at the cluster scope","reason":"Forbidden","details":{"group":"batch","kind":"jobs"},"code":403}`},
		"health is anonymous": {nil, "/readyz", 200, "ok"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.URL()+tc.path, nil)
			req.Header.Set("Accept", "application/json")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := anon.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if tc.body != "" {
				var got, want any
				if json.Unmarshal(body, &got) != nil || json.Unmarshal([]byte(tc.body), &want) != nil {
					if string(bytes.TrimSpace(body)) != tc.body {
						t.Fatalf("body %q, want %q", body, tc.body)
					}
					return
				}
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if !bytes.Equal(gb, wb) {
					t.Errorf("body\n got %s\nwant %s", gb, wb)
				}
			}
		})
	}
}
