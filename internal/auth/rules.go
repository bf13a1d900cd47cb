package auth

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

var _ authorizer.RuleResolver = (*RBAC)(nil)

// RulesFor implements authorizer.RuleResolver as upstream's RBAC
// authorizer does: every rule of every role bound to u cluster-wide or in
// namespace, a rule with resources as a resource rule and one with
// nonResourceURLs as a non-resource rule. It is never incomplete; errors
// reading bindings or roles are aggregated and returned beside the rules
// that could be read. system:masters gets no special treatment here (it
// reaches everything through the bootstrap cluster-admin binding, as
// upstream).
func (a *RBAC) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var (
		resourceRules    []authorizer.ResourceRuleInfo
		nonResourceRules []authorizer.NonResourceRuleInfo
		errs             []error
	)
	a.caughtUp(ctx)
	a.visitRules(ctx, u, namespace, func(_ *bindingSource, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if len(rule.Resources) > 0 {
			resourceRules = append(resourceRules, &authorizer.DefaultResourceRuleInfo{
				Verbs: rule.Verbs, APIGroups: rule.APIGroups, Resources: rule.Resources, ResourceNames: rule.ResourceNames,
			})
		}
		if len(rule.NonResourceURLs) > 0 {
			nonResourceRules = append(nonResourceRules, &authorizer.DefaultNonResourceRuleInfo{
				Verbs: rule.Verbs, NonResourceURLs: rule.NonResourceURLs,
			})
		}
		return true
	})
	return resourceRules, nonResourceRules, false, utilerrors.NewAggregate(errs)
}
