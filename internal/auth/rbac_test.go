package auth

import (
	"net/http"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestRuleAllows_UpstreamMatching(t *testing.T) {
	alice := &user.DefaultInfo{Name: "alice"}
	res := func(verb, group, resource, sub, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: alice, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name, Namespace: "ns", ResourceRequest: true}
	}
	url := func(verb, path string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: alice, Verb: verb, Path: path}
	}
	tests := map[string]struct {
		rule  rbacv1.PolicyRule
		attrs authorizer.AttributesRecord
		want  bool
	}{
		"exact":                          {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}, res("get", "batch", "jobs", "", "pi"), true},
		"other verb":                     {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}, res("delete", "batch", "jobs", "", "pi"), false},
		"verb wildcard":                  {rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}, res("deletecollection", "batch", "jobs", "", ""), true},
		"other group":                    {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"jobs"}}, res("get", "batch", "jobs", "", ""), false},
		"group wildcard":                 {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"jobs"}}, res("get", "batch", "jobs", "", ""), true},
		"resource does not cover status": {rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}, res("update", "batch", "jobs", "status", "pi"), false},
		"subresource":                    {rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"batch"}, Resources: []string{"jobs/status"}}, res("update", "batch", "jobs", "status", "pi"), true},
		"star slash subresource":         {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*/log"}}, res("get", "", "pods", "log", "p"), true},
		"star slash other subresource":   {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*/log"}}, res("get", "", "pods", "exec", "p"), false},
		"resource wildcard":              {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*"}}, res("get", "", "pods", "log", "p"), true},
		"resourceNames match":            {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p"}}, res("get", "", "pods", "", "p"), true},
		"resourceNames other":            {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p"}}, res("get", "", "pods", "", "q"), false},
		"resourceNames and a list":       {rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p"}}, res("list", "", "pods", "", ""), false},
		"url exact":                      {rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/version"}}, url("get", "/version"), true},
		"url prefix":                     {rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}}, url("get", "/apis/batch/v1"), true},
		"url prefix needs the slash":     {rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}}, url("get", "/apis"), false},
		"url wildcard":                   {rbacv1.PolicyRule{Verbs: []string{"post"}, NonResourceURLs: []string{"*"}}, url("post", "/skiff/v1/tokens"), true},
		"url rule never grants resource": {rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"*"}}, res("get", "", "pods", "", ""), false},
		"resource rule never grants url": {rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"*"}}, url("get", "/healthz"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RuleAllows(tc.attrs, &tc.rule); got != tc.want {
				t.Errorf("RuleAllows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSubjectMatches_Kinds(t *testing.T) {
	sa := &user.DefaultInfo{Name: "system:serviceaccount:team-a:builder", Groups: []string{"system:serviceaccounts"}}
	tests := map[string]struct {
		subject   rbacv1.Subject
		namespace string
		want      bool
	}{
		"user":                           {rbacv1.Subject{Kind: "User", Name: "system:serviceaccount:team-a:builder"}, "", true},
		"group":                          {rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts"}, "", true},
		"other group":                    {rbacv1.Subject{Kind: "Group", Name: "system:masters"}, "", false},
		"service account qualified":      {rbacv1.Subject{Kind: "ServiceAccount", Name: "builder", Namespace: "team-a"}, "", true},
		"service account of binding ns":  {rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}, "team-a", true},
		"service account other ns":       {rbacv1.Subject{Kind: "ServiceAccount", Name: "builder", Namespace: "team-b"}, "team-a", false},
		"service account without any ns": {rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}, "", false},
		"unknown kind":                   {rbacv1.Subject{Kind: "Robot", Name: "builder"}, "team-a", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := subjectMatches(sa, &tc.subject, tc.namespace); got != tc.want {
				t.Errorf("subjectMatches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequestToken_Headers(t *testing.T) {
	tests := map[string]struct {
		headers   http.Header
		wantToken string
		wantFound bool
		wantErr   error
	}{
		"none":                  {http.Header{}, "", false, nil},
		"bearer":                {http.Header{"Authorization": {"Bearer abc"}}, "abc", true, nil},
		"bearer lowercase":      {http.Header{"Authorization": {"bearer abc"}}, "abc", true, nil},
		"bearer empty":          {http.Header{"Authorization": {"Bearer "}}, "", false, nil},
		"basic":                 {http.Header{"Authorization": {"Basic abc"}}, "", false, nil},
		"x-auth-token":          {http.Header{"X-Auth-Token": {" abc "}}, "abc", true, nil},
		"both agree":            {http.Header{"Authorization": {"Bearer abc"}, "X-Auth-Token": {"abc"}}, "abc", true, nil},
		"both disagree":         {http.Header{"Authorization": {"Bearer abc"}, "X-Auth-Token": {"xyz"}}, "", false, ErrConflictingTokens},
		"repeated x-auth-token": {http.Header{"X-Auth-Token": {"abc", "xyz"}}, "", false, ErrConflictingTokens},
		"basic plus x-auth":     {http.Header{"Authorization": {"Basic abc"}, "X-Auth-Token": {"xyz"}}, "xyz", true, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tok, found, err := RequestToken(tc.headers)
			if tok != tc.wantToken || found != tc.wantFound || err != tc.wantErr {
				t.Errorf("RequestToken = (%q, %v, %v), want (%q, %v, %v)", tok, found, err, tc.wantToken, tc.wantFound, tc.wantErr)
			}
		})
	}
}

// FuzzRequestToken checks that no header value makes token extraction
// panic, and that a found token is never empty.
//
// CI: go test ./internal/auth -run='^$' -fuzz='^FuzzRequestToken$' -fuzztime=10s
func FuzzRequestToken(f *testing.F) {
	f.Add("Bearer abc", "abc")
	f.Add("bearer  x y", "")
	f.Add("", " \t")
	f.Fuzz(func(t *testing.T, authz, xauth string) {
		h := http.Header{"Authorization": {authz}, "X-Auth-Token": {xauth}}
		tok, found, err := RequestToken(h)
		if found && (tok == "" || err != nil) {
			t.Fatalf("found empty token or with error: %q %v", tok, err)
		}
	})
}

func TestBindingSource_NamesTheBinding(t *testing.T) {
	ref := rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}
	cluster := &bindingSource{kind: "ClusterRoleBinding", name: "ops", roleRef: ref, subject: &rbacv1.Subject{Kind: "Group", Name: "ops"}}
	if got, want := cluster.String(), `ClusterRoleBinding "ops" of ClusterRole "edit" to Group "ops"`; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
	ns := &bindingSource{kind: "RoleBinding", name: "builder/team-a", roleRef: ref, namespace: "team-a",
		subject: &rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}}
	if got, want := ns.String(), `RoleBinding "builder/team-a" of ClusterRole "edit" to ServiceAccount "builder/team-a"`; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
	if (*bindingSource)(nil).String() != "" {
		t.Error("a nil source names something")
	}
}
