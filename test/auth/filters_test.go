package auth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-sh/skiff/internal/auth"
)

func TestWrap_Authenticate_HeaderCombinations(t *testing.T) {
	e := startEnv(t, envOptions{})
	alice, _ := e.issue(t, "alice", 0)
	path := "/apis/authentication.k8s.io/v1/selfsubjectreviews"
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	tests := map[string]struct {
		headers  map[string]string
		wantCode int
	}{
		"bearer alone":                 {bearer(alice), http.StatusCreated},
		"x-auth-token alone":           {map[string]string{"X-Auth-Token": alice}, http.StatusCreated},
		"both agreeing":                {map[string]string{"X-Auth-Token": alice, "Authorization": "Bearer " + alice}, http.StatusCreated},
		"both disagreeing, admin both": {map[string]string{"X-Auth-Token": alice, "Authorization": "Bearer " + e.admin}, http.StatusUnauthorized},
		"both disagreeing, unknown":    {map[string]string{"X-Auth-Token": "nope", "Authorization": "Bearer " + alice}, http.StatusUnauthorized},
		"basic auth is no token":       {map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := e.do(t, http.MethodPost, path, tc.headers, body)
			if got.code != tc.wantCode {
				t.Fatalf("code = %d, want %d; body %s", got.code, tc.wantCode, got.body)
			}
			if tc.wantCode == http.StatusUnauthorized && got.body != unauthorizedBody {
				t.Errorf("body = %s, want %s", got.body, unauthorizedBody)
			}
		})
	}
}

func TestWrap_SelfSubjectReview_Whoami(t *testing.T) {
	e := startEnv(t, envOptions{})
	alice, _ := e.issue(t, "alice", 0)
	got := e.do(t, http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", bearer(alice), `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	var review struct {
		Kind   string `json:"kind"`
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(got.body), &review); err != nil || got.code != http.StatusCreated {
		t.Fatalf("code %d body %s err %v", got.code, got.body, err)
	}
	if diff := cmp.Diff([]string{"alice", "system:authenticated"}, append([]string{review.Status.UserInfo.Username}, review.Status.UserInfo.Groups...)); diff != "" || review.Kind != "SelfSubjectReview" {
		t.Errorf("kind %q, user (-want +got):\n%s", review.Kind, diff)
	}
}

func TestWrap_SelfSubjectAccessReview_CanI(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.lister.bindAdmin("alice", "team-a")
	alice, _ := e.issue(t, "alice", 0)
	tests := map[string]struct {
		spec        string
		wantCode    int
		wantAllowed bool
	}{
		"delete jobs in own namespace":   {`{"resourceAttributes":{"namespace":"team-a","verb":"delete","group":"batch","resource":"jobs"}}`, http.StatusCreated, true},
		"delete jobs in other namespace": {`{"resourceAttributes":{"namespace":"team-b","verb":"delete","group":"batch","resource":"jobs"}}`, http.StatusCreated, false},
		"list pods cluster-wide":         {`{"resourceAttributes":{"verb":"list","resource":"pods"}}`, http.StatusCreated, false},
		"get pods/log":                   {`{"resourceAttributes":{"namespace":"team-a","verb":"get","resource":"pods","subresource":"log"}}`, http.StatusCreated, true},
		"get /version":                   {`{"nonResourceAttributes":{"verb":"get","path":"/version"}}`, http.StatusCreated, true},
		"get /metrics":                   {`{"nonResourceAttributes":{"verb":"get","path":"/metrics"}}`, http.StatusCreated, false},
		"neither attribute set":          {`{}`, http.StatusUnprocessableEntity, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := e.do(t, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", bearer(alice),
				`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":`+tc.spec+`}`)
			if got.code != tc.wantCode {
				t.Fatalf("code = %d, want %d: %s", got.code, tc.wantCode, got.body)
			}
			if tc.wantCode != http.StatusCreated {
				want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified","reason":"Invalid","details":{"group":"authorization.k8s.io","kind":"SelfSubjectAccessReview","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified","field":"spec.resourceAttributes"}]},"code":422}`
				if got.body != want {
					t.Errorf("body = %s\nwant   %s", got.body, want)
				}
				return
			}
			var sar struct {
				Status struct {
					Allowed bool `json:"allowed"`
				} `json:"status"`
			}
			if err := json.Unmarshal([]byte(got.body), &sar); err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v (%s)", sar.Status.Allowed, tc.wantAllowed, got.body)
			}
		})
	}
}

func TestWrap_PublicPaths_AnonymousAllowedOnlyThere(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := map[string]struct {
		path     string
		headers  map[string]string
		wantCode int
	}{
		"healthz":               {"/healthz", nil, http.StatusOK},
		"livez":                 {"/livez", nil, http.StatusOK},
		"readyz":                {"/readyz", nil, http.StatusOK},
		"version":               {"/version", nil, http.StatusOK},
		"discovery needs token": {"/apis", nil, http.StatusUnauthorized},
		"discovery with token":  {"/apis", bearer(e.admin), http.StatusOK},
		"metrics":               {"/metrics", nil, http.StatusUnauthorized},
		"bad token on healthz":  {"/healthz", bearer("bad"), http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := e.do(t, http.MethodGet, tc.path, tc.headers, ""); got.code != tc.wantCode {
				t.Errorf("code = %d, want %d: %s", got.code, tc.wantCode, got.body)
			}
		})
	}
}

func TestWrap_Timeout_504AndBadTimeout400(t *testing.T) {
	e := startEnv(t, envOptions{})
	got := e.do(t, http.MethodGet, "/apis/batch/v1/namespaces/team-a/jobs?block=1&timeout=200ms", bearer(e.admin), "")
	want := response{code: http.StatusGatewayTimeout, body: `{"metadata":{},"status":"Failure","message":"Timeout: request did not complete within the allotted timeout","reason":"Timeout","details":{},"code":504}`}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(response{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".header" }, cmp.Ignore())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ct := got.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The abandoned handler sees its context end.
	pollUntil(t, 5*time.Second, func() bool { return e.stub.abandoned.Load() == 1 })

	got = e.do(t, http.MethodGet, "/apis/batch/v1/namespaces/team-a/jobs?timeout=abc", nil, "")
	wantBad := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"invalid timeout specified in the request URL - time: invalid duration \"abc\"","reason":"BadRequest","code":400}`
	if got.code != http.StatusBadRequest || got.body != wantBad {
		t.Errorf("bad timeout: %d %s", got.code, got.body)
	}
}

func TestWrap_Timeout_ServerDefault(t *testing.T) {
	e := startEnv(t, envOptions{timeout: 300 * time.Millisecond})
	if got := e.do(t, http.MethodGet, "/api/v1/namespaces/team-a/pods?block=1", bearer(e.admin), ""); got.code != http.StatusGatewayTimeout {
		t.Errorf("code = %d, want 504", got.code)
	}
	// A watch is long-running: the default does not apply.
	done := make(chan response, 1)
	go func() {
		done <- e.do(t, http.MethodGet, "/api/v1/namespaces/team-a/pods?watch=1&block=1", bearer(e.admin), "")
	}()
	select {
	case got := <-done:
		t.Fatalf("watch ended early: %d %s", got.code, got.body)
	case <-time.After(time.Second):
	}
}

func TestWrap_MaxInFlight_429AndAcceptedComplete(t *testing.T) {
	const limit = 3
	e := startEnv(t, envOptions{maxMutating: limit, maxReadOnly: limit})
	e.lister.bindAdmin("alice", "team-a")
	alice, _ := e.issue(t, "alice", 0)

	var wg sync.WaitGroup
	codes := make(chan response, limit)
	for range limit {
		wg.Go(func() {
			codes <- e.do(t, http.MethodPost, "/apis/batch/v1/namespaces/team-a/jobs?block=1", bearer(alice), "{}")
		})
	}
	pollUntil(t, 5*time.Second, func() bool { return e.stub.inFlight.Load() == limit })

	over := e.do(t, http.MethodPost, "/apis/batch/v1/namespaces/team-a/jobs", bearer(alice), "{}")
	if over.code != http.StatusTooManyRequests || over.body != "Too many requests, please try again later." ||
		over.header.Get("Retry-After") != "1" || over.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("over the limit: %d %q headers %v", over.code, over.body, over.header)
	}
	// Reads have their own budget; watches and masters are exempt.
	if got := e.do(t, http.MethodGet, "/apis/batch/v1/namespaces/team-a/jobs", bearer(alice), ""); got.code != http.StatusOK {
		t.Errorf("read while writes are saturated: %d", got.code)
	}
	if got := e.do(t, http.MethodPost, "/apis/batch/v1/namespaces/team-a/jobs", bearer(e.admin), "{}"); got.code != http.StatusOK {
		t.Errorf("system:masters over the limit: %d", got.code)
	}
	// Unauthenticated floods are refused before they take a slot.
	if got := e.do(t, http.MethodPost, "/apis/batch/v1/namespaces/team-a/jobs", nil, "{}"); got.code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", got.code)
	}
	e.stub.release <- struct{}{}
	e.stub.release <- struct{}{}
	e.stub.release <- struct{}{}
	wg.Wait()
	close(codes)
	for got := range codes {
		if got.code != http.StatusOK {
			t.Errorf("accepted request ended with %d %s", got.code, got.body)
		}
	}
	if got := e.do(t, http.MethodPost, "/apis/batch/v1/namespaces/team-a/jobs", bearer(alice), "{}"); got.code != http.StatusOK {
		t.Errorf("after the burst: %d", got.code)
	}
}

func TestWrap_TokenAPI_CreateListRevoke(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.lister.bindAdmin("alice", "team-a")
	got := e.do(t, http.MethodPost, auth.TokenAPIPath, bearer(e.admin), `{"user":"alice","groups":["devs"],"ttl":"1h"}`)
	var created auth.CreatedToken
	if err := json.Unmarshal([]byte(got.body), &created); err != nil || got.code != http.StatusCreated {
		t.Fatalf("create: %d %s %v", got.code, got.body, err)
	}
	if created.Token == "" || created.Hash != "" || created.User != "alice" || created.Expires.IsZero() {
		t.Errorf("created = %+v", created)
	}
	if got := e.do(t, http.MethodGet, "/apis/batch/v1/namespaces/team-a/jobs", bearer(created.Token), ""); got.code != http.StatusOK {
		t.Fatalf("new token: %d %s", got.code, got.body)
	}
	// Tenants may not mint tokens.
	if got := e.do(t, http.MethodPost, auth.TokenAPIPath, bearer(created.Token), `{"user":"mallory"}`); got.code != http.StatusForbidden ||
		!strings.Contains(got.body, `User \"alice\" cannot post path \"/skiff/v1/tokens\"`) {
		t.Errorf("tenant minting: %d %s", got.code, got.body)
	}
	if got := e.do(t, http.MethodPost, auth.TokenAPIPath, bearer(e.admin), `{"user":"x","groups":["system:masters"]}`); got.code != http.StatusBadRequest {
		t.Errorf("masters token: %d %s", got.code, got.body)
	}
	got = e.do(t, http.MethodGet, auth.TokenAPIPath, bearer(e.admin), "")
	var list auth.TokenList
	if err := json.Unmarshal([]byte(got.body), &list); err != nil || len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Items[0].Hash != "" {
		t.Fatalf("list: %s %v", got.body, err)
	}
	if got := e.do(t, http.MethodDelete, auth.TokenAPIPath+"/"+created.ID, bearer(e.admin), ""); got.code != http.StatusOK {
		t.Fatalf("revoke: %d %s", got.code, got.body)
	}
	if got := e.do(t, http.MethodGet, "/apis/batch/v1/namespaces/team-a/jobs", bearer(created.Token), ""); got.code != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", got.code)
	}
	if got := e.do(t, http.MethodDelete, auth.TokenAPIPath+"/"+created.ID, bearer(e.admin), ""); got.code != http.StatusNotFound {
		t.Errorf("second revoke: %d %s", got.code, got.body)
	}
}

func TestWrap_AuditLog_OneLinePerRequest(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.do(t, http.MethodDelete, "/apis/batch/v1/namespaces/team-a/jobs/pi", bearer(e.admin), "")
	e.do(t, http.MethodGet, "/api/v1/pods", nil, "")
	lines := e.audit.lines(t)
	if len(lines) != 2 {
		t.Fatalf("audit lines = %d, want 2", len(lines))
	}
	type row struct {
		User, Verb, Resource, Namespace, Name string
		Code                                  int
	}
	var got []row
	for _, l := range lines {
		got = append(got, row{l.User, l.Verb, l.Resource, l.Namespace, l.Name, l.Code})
	}
	want := []row{{"skiff-admin", "delete", "jobs.batch", "team-a", "pi", 200}, {"", "list", "pods", "", "", 401}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
