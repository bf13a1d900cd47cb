package auth_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const unauthorizedBody = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`

// call is one request of the matrix: verb on a resource, in team-a or
// across namespaces.
type call struct {
	resource, verb string
	method, path   string
	// clusterScope: the request names no namespace (all-namespace lists,
	// namespaces themselves).
	clusterScope bool
	// forbidden is the exact 403 message for user %s.
	forbidden string
}

func matrixCalls() []call {
	var calls []call
	type res struct {
		name, group, base, allNS, obj string
	}
	for _, r := range []res{
		{"jobs", "batch", "/apis/batch/v1/namespaces/team-a/jobs", "/apis/batch/v1/jobs", "pi"},
		{"pods", "", "/api/v1/namespaces/team-a/pods", "/api/v1/pods", "p1"},
	} {
		gr := r.name
		if r.group != "" {
			gr += "." + r.group
		}
		ns := func(verb, name string) string {
			subject := gr
			if name != "" {
				subject = fmt.Sprintf("%s %q", gr, name)
			}
			return fmt.Sprintf(`%s is forbidden: User "%%s" cannot %s resource %q in API group %q in the namespace "team-a"`, subject, verb, r.name, r.group)
		}
		calls = append(calls,
			call{r.name, "get", http.MethodGet, r.base + "/" + r.obj, false, ns("get", r.obj)},
			call{r.name, "list", http.MethodGet, r.base, false, ns("list", "")},
			call{r.name, "watch", http.MethodGet, r.base + "?watch=true", false, ns("watch", "")},
			call{r.name, "create", http.MethodPost, r.base, false, ns("create", "")},
			call{r.name, "update", http.MethodPut, r.base + "/" + r.obj, false, ns("update", r.obj)},
			call{r.name, "patch", http.MethodPatch, r.base + "/" + r.obj, false, ns("patch", r.obj)},
			call{r.name, "delete", http.MethodDelete, r.base + "/" + r.obj, false, ns("delete", r.obj)},
			call{r.name, "deletecollection", http.MethodDelete, r.base, false, ns("deletecollection", "")},
			call{r.name, "list", http.MethodGet, r.allNS, true, fmt.Sprintf(`%s is forbidden: User "%%s" cannot list resource %q in API group %q at the cluster scope`, gr, r.name, r.group)},
			call{r.name, "watch", http.MethodGet, r.allNS + "?watch=1", true, fmt.Sprintf(`%s is forbidden: User "%%s" cannot watch resource %q in API group %q at the cluster scope`, gr, r.name, r.group)},
		)
	}
	calls = append(calls,
		call{"pods/log", "get", http.MethodGet, "/api/v1/namespaces/team-a/pods/p1/log", false,
			`pods "p1" is forbidden: User "%s" cannot get resource "pods/log" in API group "" in the namespace "team-a"`},
		call{"pods/log", "get", http.MethodGet, "/api/v1/namespaces/team-a/pods/p1/log?follow=true", false,
			`pods "p1" is forbidden: User "%s" cannot get resource "pods/log" in API group "" in the namespace "team-a"`},
	)
	nsForbidden := func(verb string, named bool) string {
		if named {
			return fmt.Sprintf(`namespaces "team-a" is forbidden: User "%%s" cannot %s resource "namespaces" in API group "" in the namespace "team-a"`, verb)
		}
		return fmt.Sprintf(`namespaces is forbidden: User "%%s" cannot %s resource "namespaces" in API group "" at the cluster scope`, verb)
	}
	calls = append(calls,
		call{"namespaces", "get", http.MethodGet, "/api/v1/namespaces/team-a", false, nsForbidden("get", true)},
		call{"namespaces", "list", http.MethodGet, "/api/v1/namespaces", true, nsForbidden("list", false)},
		call{"namespaces", "watch", http.MethodGet, "/api/v1/namespaces?watch=true", true, nsForbidden("watch", false)},
		call{"namespaces", "create", http.MethodPost, "/api/v1/namespaces", true, nsForbidden("create", false)},
		call{"namespaces", "update", http.MethodPut, "/api/v1/namespaces/team-a", false, nsForbidden("update", true)},
		call{"namespaces", "patch", http.MethodPatch, "/api/v1/namespaces/team-a", false, nsForbidden("patch", true)},
		call{"namespaces", "delete", http.MethodDelete, "/api/v1/namespaces/team-a", false, nsForbidden("delete", true)},
	)
	return calls
}

// ownTenantAllowed is what ClusterRole admin, bound in team-a, grants.
func ownTenantAllowed(c call) bool {
	if c.clusterScope {
		return false
	}
	switch c.resource {
	case "jobs", "pods":
		return true
	case "pods/log":
		return c.verb == "get"
	case "namespaces":
		return c.verb == "get" || c.verb == "list" || c.verb == "watch"
	}
	return false
}

func TestWrap_Matrix_IdentitiesVerbsResources(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.lister.bindAdmin("alice", "team-a")
	e.lister.bindAdmin("bob", "team-b")
	alice, _ := e.issue(t, "alice", 24*time.Hour)
	bob, _ := e.issue(t, "bob", 0)
	expired, _ := e.issue(t, "alice", time.Hour)
	revoked, revokedID := e.issue(t, "alice", 0)
	if err := e.tokens.Revoke(t.Context(), revokedID); err != nil {
		t.Fatal(err)
	}
	later := e.now.Load().Add(2 * time.Hour)
	e.now.Store(&later)

	type identity struct {
		headers map[string]string
		user    string // "" for the 401 identities
		allowed func(call) bool
	}
	identities := map[string]identity{
		"no token":              {headers: nil},
		"malformed token":       {headers: map[string]string{"Authorization": "Bearer not.a/valid token"}},
		"unknown token":         {headers: bearer("0123456789abcdef.c2VjcmV0")},
		"expired token":         {headers: bearer(expired)},
		"revoked token":         {headers: bearer(revoked)},
		"other tenant's token":  {headers: bearer(bob), user: "bob", allowed: func(call) bool { return false }},
		"own tenant's token":    {headers: bearer(alice), user: "alice", allowed: ownTenantAllowed},
		"own tenant via X-Auth": {headers: map[string]string{"X-Auth-Token": alice}, user: "alice", allowed: ownTenantAllowed},
		"admin":                 {headers: bearer(e.admin), user: "skiff-admin", allowed: func(call) bool { return true }},
	}
	for name, id := range identities {
		for _, c := range matrixCalls() {
			t.Run(fmt.Sprintf("%s/%s %s %s", name, c.verb, c.resource, c.path), func(t *testing.T) {
				body := ""
				if c.method == http.MethodPost || c.method == http.MethodPut || c.method == http.MethodPatch {
					body = "{}"
				}
				got := e.do(t, c.method, c.path, id.headers, body)
				want := response{code: http.StatusOK, body: `{"served":true}`}
				switch {
				case id.user == "":
					want = response{code: http.StatusUnauthorized, body: unauthorizedBody}
				case !id.allowed(c):
					want = response{code: http.StatusForbidden, body: forbiddenBody(fmt.Sprintf(c.forbidden, id.user), c)}
				}
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(response{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".header" }, cmp.Ignore())); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}
