package auth

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// RBACLister reads the RBAC objects the authorizer evaluates. Returned
// objects are shared and must not be modified. Getters return an
// apierrors NotFound error for a missing object. Implementations must be
// safe for concurrent use; they are called on every request, so they
// should read from memory (the watch cache or informers).
type RBACLister interface {
	GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error)
	ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error)
	GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error)
	ListClusterRoles(ctx context.Context) ([]*rbacv1.ClusterRole, error)
	ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error)
}

// RBAC is upstream's RBAC authorizer: a request is allowed when a rule of a
// role bound to the user (by a ClusterRoleBinding, or a RoleBinding in the
// request's namespace) covers it; otherwise it has no opinion. Members of
// system:masters are allowed everything, as kube-apiserver's privileged
// group authorizer does ahead of RBAC.
type RBAC struct {
	lister  RBACLister
	catchUp func(context.Context) error
}

var _ authorizer.UnconditionalAuthorizer = (*RBAC)(nil)

// NewRBAC returns an authorizer over lister.
func NewRBAC(lister RBACLister) *RBAC { return &RBAC{lister: lister} }

// WithCatchUp has a request that no rule allows evaluated once more after
// catchUp has brought the lister up to date with storage. The lister reads
// a cache that trails etcd by a moment; without this, the first request of
// a user just bound to a role (`skiff tenant create`, then kubectl) could
// be refused. Only refusals pay for it, and rules reviews.
func (a *RBAC) WithCatchUp(catchUp func(context.Context) error) *RBAC {
	a.catchUp = catchUp
	return a
}

// caughtUp runs the catch-up hook; false when there is none or it failed
// (the caller then answers from what the cache holds).
func (a *RBAC) caughtUp(ctx context.Context) bool {
	return a.catchUp != nil && a.catchUp(ctx) == nil
}

// Authorize implements authorizer.Authorizer.
func (a *RBAC) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "no user on request", nil
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return authorizer.DecisionAllow, "", nil
		}
	}
	source, errs := a.allowedBy(ctx, u, attrs)
	if source == "" && a.caughtUp(ctx) {
		source, errs = a.allowedBy(ctx, u, attrs)
	}
	if source != "" {
		return authorizer.DecisionAllow, "RBAC: allowed by " + source, nil
	}
	reason := ""
	if len(errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return authorizer.DecisionNoOpinion, reason, nil
}

// allowedBy names the binding and role whose rule allows attrs ("" when
// none does) and returns the errors met reading them.
func (a *RBAC) allowedBy(ctx context.Context, u user.Info, attrs authorizer.Attributes) (source string, errs []error) {
	a.visitRules(ctx, u, attrs.GetNamespace(), func(src *bindingSource, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if RuleAllows(attrs, rule) {
			source = src.String()
			return false
		}
		return true
	})
	return source, errs
}

// ruleVisitor gets each rule that applies (or an error reading one) and
// returns false to stop.
type ruleVisitor func(source *bindingSource, rule *rbacv1.PolicyRule, err error) bool

// bindingSource names the binding a rule came from. It is formatted only
// when a decision needs it: building the name for every binding visited was
// most of the cost of authorizing a request.
type bindingSource struct {
	kind      string // "ClusterRoleBinding" or "RoleBinding"
	name      string // with "/namespace" for a RoleBinding
	roleRef   rbacv1.RoleRef
	subject   *rbacv1.Subject
	namespace string // the binding's; "" for a ClusterRoleBinding
}

func (b *bindingSource) String() string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf("%s %q of %s %q to %s", b.kind, b.name, b.roleRef.Kind, b.roleRef.Name, describeSubject(b.subject, b.namespace))
}

func (a *RBAC) visitRules(ctx context.Context, u user.Info, namespace string, visit ruleVisitor) {
	crbs, err := a.lister.ListClusterRoleBindings(ctx)
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	}
	for _, b := range crbs {
		i, ok := appliesTo(u, b.Subjects, "")
		if !ok {
			continue
		}
		rules, err := a.rulesFor(ctx, b.RoleRef, "")
		src := &bindingSource{kind: "ClusterRoleBinding", name: b.Name, roleRef: b.RoleRef, subject: &b.Subjects[i]}
		if !visitAll(src, rules, err, visit) {
			return
		}
	}
	if namespace == "" {
		return
	}
	rbs, err := a.lister.ListRoleBindings(ctx, namespace)
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	}
	for _, b := range rbs {
		i, ok := appliesTo(u, b.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := a.rulesFor(ctx, b.RoleRef, namespace)
		src := &bindingSource{kind: "RoleBinding", name: b.Name + "/" + namespace, roleRef: b.RoleRef, subject: &b.Subjects[i], namespace: namespace}
		if !visitAll(src, rules, err, visit) {
			return
		}
	}
}

func visitAll(src *bindingSource, rules []rbacv1.PolicyRule, err error, visit ruleVisitor) bool {
	if err != nil {
		return visit(src, nil, err)
	}
	for i := range rules {
		if !visit(src, &rules[i], nil) {
			return false
		}
	}
	return true
}

// rulesFor resolves a roleRef. An aggregated ClusterRole also gets the
// rules of the ClusterRoles its selectors match, which is what upstream's
// clusterrole-aggregation controller would have copied into it.
func (a *RBAC) rulesFor(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		r, err := a.lister.GetRole(ctx, namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	case "ClusterRole":
		r, err := a.lister.GetClusterRole(ctx, ref.Name)
		if err != nil {
			return nil, err
		}
		if r.AggregationRule == nil || len(r.AggregationRule.ClusterRoleSelectors) == 0 {
			return r.Rules, nil
		}
		return a.aggregate(ctx, r)
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

func (a *RBAC) aggregate(ctx context.Context, r *rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	all, err := a.lister.ListClusterRoles(ctx)
	if err != nil {
		return nil, err
	}
	return aggregateRules(r, all, map[string]bool{})
}

// aggregateRules resolves nested aggregation (admin aggregates edit, which
// aggregates view) as the aggregation controller converges to; seen breaks
// cycles.
func aggregateRules(r *rbacv1.ClusterRole, all []*rbacv1.ClusterRole, seen map[string]bool) ([]rbacv1.PolicyRule, error) {
	seen[r.Name] = true
	rules := append([]rbacv1.PolicyRule(nil), r.Rules...)
	if r.AggregationRule == nil {
		return rules, nil
	}
	for _, sel := range r.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return nil, fmt.Errorf("clusterrole %q: aggregation selector: %w", r.Name, err)
		}
		for _, other := range all {
			if seen[other.Name] || !s.Matches(labels.Set(other.Labels)) {
				continue
			}
			more, err := aggregateRules(other, all, seen)
			if err != nil {
				return nil, err
			}
			rules = append(rules, more...)
		}
	}
	return rules, nil
}

// appliesTo returns the index of the first subject that matches u.
func appliesTo(u user.Info, subjects []rbacv1.Subject, namespace string) (int, bool) {
	for i := range subjects {
		if subjectMatches(u, &subjects[i], namespace) {
			return i, true
		}
	}
	return 0, false
}

func subjectMatches(u user.Info, s *rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		for _, g := range u.GetGroups() {
			if g == s.Name {
				return true
			}
		}
		return false
	case rbacv1.ServiceAccountKind:
		// A RoleBinding may name a service account of its own namespace
		// without qualifying it.
		ns := namespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return ns != "" && serviceaccount.MakeUsername(ns, s.Name) == u.GetName()
	}
	return false
}

func describeSubject(s *rbacv1.Subject, bindingNamespace string) string {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Namespace != "" {
			return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+s.Namespace)
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+bindingNamespace)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// RuleAllows reports whether rule covers the request, with upstream's
// matching: "*" wildcards for verbs, groups, resources and URLs,
// "resource/subresource" and "*/subresource" resources, resourceNames
// (which only restrict requests that name an object), and nonResourceURLs
// with a trailing "*" prefix match.
func RuleAllows(attrs authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if !has(rule.Verbs, attrs.GetVerb()) {
		return false
	}
	if !attrs.IsResourceRequest() {
		return urlMatches(rule.NonResourceURLs, attrs.GetPath())
	}
	resource := attrs.GetResource()
	if sub := attrs.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	return has(rule.APIGroups, attrs.GetAPIGroup()) &&
		resourceMatches(rule.Resources, resource, attrs.GetSubresource()) &&
		(len(rule.ResourceNames) == 0 || contains(rule.ResourceNames, attrs.GetName()))
}

// has reports whether list contains want or the "*" wildcard.
func has(list []string, want string) bool {
	for _, v := range list {
		if v == rbacv1.VerbAll || v == want {
			return true
		}
	}
	return false
}

func contains(list []string, want string) bool {
	for _, v := range list {
		if v == want {
			return true
		}
	}
	return false
}

func resourceMatches(ruleResources []string, combined, subresource string) bool {
	for _, r := range ruleResources {
		switch {
		case r == rbacv1.ResourceAll, r == combined:
			return true
		case subresource != "" && len(r) == len(subresource)+2 && strings.HasPrefix(r, "*/") && strings.HasSuffix(r, subresource):
			return true
		}
	}
	return false
}

func urlMatches(urls []string, path string) bool {
	for _, u := range urls {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")):
			return true
		}
	}
	return false
}
