package auth

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// verbAuthorizer allows the verbs in allow and records what it was asked.
type verbAuthorizer struct {
	allow map[string]bool
	asked []string
}

func (a *verbAuthorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	a.asked = append(a.asked, attrs.GetVerb()+" "+attrs.GetResource()+"/"+attrs.GetSubresource())
	if a.allow[attrs.GetVerb()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// A streaming pod subresource asked for with any verb but create is also
// authorized as a create; nothing else is asked twice.
func TestAuthorizeStreamCreate(t *testing.T) {
	base := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Namespace: "ns", Resource: "pods", Name: "p", ResourceRequest: true}
	tests := map[string]struct {
		group, resource, sub, verb string
		allow                      map[string]bool
		wantAsked                  string
		wantForbidden              bool
	}{
		"exec by get, create allowed":   {"", "pods", "exec", "get", map[string]bool{"create": true}, "create pods/exec", false},
		"exec by get, create denied":    {"", "pods", "exec", "get", nil, "create pods/exec", true},
		"attach by get":                 {"", "pods", "attach", "get", nil, "create pods/attach", true},
		"portforward by get":            {"", "pods", "portforward", "get", nil, "create pods/portforward", true},
		"exec by create: already asked": {"", "pods", "exec", "create", nil, "", false},
		"log is not a stream upgrade":   {"", "pods", "log", "get", nil, "", false},
		"another group's pods":          {"example.com", "pods", "exec", "get", nil, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := &verbAuthorizer{allow: tc.allow}
			attrs := base
			attrs.APIGroup, attrs.Resource, attrs.Subresource, attrs.Verb = tc.group, tc.resource, tc.sub, tc.verb
			err := authorizeStreamCreate(context.Background(), a, attrs)
			asked := ""
			if len(a.asked) > 0 {
				asked = a.asked[0]
			}
			if asked != tc.wantAsked || len(a.asked) > 1 {
				t.Errorf("asked %v, want %q", a.asked, tc.wantAsked)
			}
			var status apierrors.APIStatus
			if tc.wantForbidden != apierrors.IsForbidden(err) || (err != nil && !errors.As(err, &status)) {
				t.Fatalf("error = %v, want forbidden %v", err, tc.wantForbidden)
			}
			if tc.wantForbidden && err.Error() != `pods "p" is forbidden: ` {
				t.Errorf("message = %q, want upstream's with RBAC's empty reason", err.Error())
			}
		})
	}
}
