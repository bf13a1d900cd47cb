package auth

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// EscalationCheck is upstream's RBAC escalation prevention: a user may
// create or change a Role only with permissions it holds itself (or with
// the escalate verb), and may bind a role only if it holds the role's
// permissions (or has the bind verb on it).
type EscalationCheck struct {
	Authorizer authorizer.UnconditionalAuthorizer
	// RoleRules returns the rules of the role a binding refers to
	// (namespace "" for a ClusterRole).
	RoleRules func(ctx context.Context, namespace string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, error)
}

// ConfirmRole refuses a Role (namespace set) or ClusterRole whose rules the
// requesting user does not hold.
func (e *EscalationCheck) ConfirmRole(ctx context.Context, gr schema.GroupResource, namespace, name string, rules []rbacv1.PolicyRule) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil // internal callers (bootstrap policy) act with the server's authority
	}
	if e.allowed(ctx, u, "escalate", gr.Resource, namespace, name) {
		return nil
	}
	return e.confirmRules(ctx, u, gr, namespace, name, rules)
}

// ConfirmBinding refuses a binding to a role whose permissions the
// requesting user does not hold, unless it may bind that role.
func (e *EscalationCheck) ConfirmBinding(ctx context.Context, gr schema.GroupResource, namespace, name string, ref rbacv1.RoleRef) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil
	}
	roleResource, roleNamespace := "roles", namespace
	if ref.Kind == "ClusterRole" {
		roleResource = "clusterroles"
	}
	if e.allowed(ctx, u, "bind", roleResource, roleNamespace, ref.Name) {
		return nil
	}
	if ref.Kind == "ClusterRole" {
		roleNamespace = ""
	}
	rules, err := e.RoleRules(ctx, roleNamespace, ref)
	if err != nil {
		return err
	}
	return e.confirmRules(ctx, u, gr, namespace, name, rules)
}

func (e *EscalationCheck) allowed(ctx context.Context, u user.Info, verb, resource, namespace, name string) bool {
	d, _, _ := e.Authorizer.Authorize(ctx, authorizer.AttributesRecord{
		User: u, Verb: verb, APIGroup: rbacv1.GroupName, Resource: resource, Namespace: namespace, Name: name, ResourceRequest: true,
	})
	return d == authorizer.DecisionAllow
}

// confirmRules checks every verb/group/resource/name of rules against the
// user's own permissions in namespace ("" means cluster-wide).
func (e *EscalationCheck) confirmRules(ctx context.Context, u user.Info, gr schema.GroupResource, namespace, name string, rules []rbacv1.PolicyRule) error {
	var missing []string
	for _, r := range rules {
		if !e.holds(ctx, u, namespace, r) {
			missing = append(missing, compactRule(r))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return apierrors.NewForbidden(gr, name, fmt.Errorf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		u.GetName(), u.GetGroups(), strings.Join(missing, "\n")))
}

func (e *EscalationCheck) holds(ctx context.Context, u user.Info, namespace string, r rbacv1.PolicyRule) bool {
	for _, verb := range r.Verbs {
		for _, url := range r.NonResourceURLs {
			if !e.ok(ctx, authorizer.AttributesRecord{User: u, Verb: verb, Path: url}) {
				return false
			}
		}
		for _, group := range r.APIGroups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				names := r.ResourceNames
				if len(names) == 0 {
					names = []string{""}
				}
				for _, n := range names {
					if !e.ok(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub,
						Name: n, Namespace: namespace, ResourceRequest: true}) {
						return false
					}
				}
			}
		}
	}
	return true
}

func (e *EscalationCheck) ok(ctx context.Context, a authorizer.AttributesRecord) bool {
	d, _, _ := e.Authorizer.Authorize(ctx, a)
	return d == authorizer.DecisionAllow
}

// compactRule renders a rule as upstream's error message does.
func compactRule(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(field string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", field, vals))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("ResourceNames", r.ResourceNames)
	add("NonResourceURLs", r.NonResourceURLs)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
