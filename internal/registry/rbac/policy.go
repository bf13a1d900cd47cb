package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Verb sets of upstream's bootstrap policy.
var (
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "update", "patch", "delete", "deletecollection"}
)

// Aggregation labels of admin, edit and view.
const (
	aggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	aggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	aggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// ControllerRolePrefix names a controller's ClusterRole:
// system:controller:<controller>.
const ControllerRolePrefix = "system:controller:"

// rule builds a resource rule.
func rule(verbs []string, groups []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func v(verbs ...string) []string  { return verbs }
func g(groups ...string) []string { return groups }

var core = g("")

// eventsRule lets a component record events (upstream eventsRule).
func eventsRule() rbacv1.PolicyRule {
	return rule(v("create", "update", "patch"), g("", "events.k8s.io"), "events")
}

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func aggregated(name string, labels map[string]string, selectorLabel string) rbacv1.ClusterRole {
	r := clusterRole(name, labels)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{selectorLabel: "true"}}}}
	return r
}

// userFacingRoles are upstream's cluster-admin, discovery, basic-user,
// public-info-viewer, and the aggregated admin/edit/view with their parts.
func userFacingRoles() []rbacv1.ClusterRole {
	return []rbacv1.ClusterRole{
		clusterRole("cluster-admin", nil, rule(v("*"), g("*"), "*"), urls(v("*"), "*")),
		clusterRole("system:discovery", nil, urls(v("get"), "/livez", "/readyz", "/healthz", "/version", "/version/",
			"/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*")),
		clusterRole("system:basic-user", nil,
			rule(v("create"), g("authorization.k8s.io"), "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule(v("create"), g("authentication.k8s.io"), "selfsubjectreviews")),
		clusterRole("system:public-info-viewer", nil, urls(v("get"), "/livez", "/readyz", "/healthz", "/version", "/version/")),
		clusterRole("system:service-account-issuer-discovery", nil, urls(v("get"), "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
			"/openid/v1/jwks", "/openid/v1/jwks/")),
		aggregated("admin", nil, aggregateToAdmin),
		aggregated("edit", map[string]string{aggregateToAdmin: "true"}, aggregateToEdit),
		aggregated("view", map[string]string{aggregateToEdit: "true"}, aggregateToView),
		clusterRole("system:aggregate-to-admin", map[string]string{aggregateToAdmin: "true"},
			rule(v("create"), g("authorization.k8s.io"), "localsubjectaccessreviews"),
			rule(readWrite, g("rbac.authorization.k8s.io"), "roles", "rolebindings")),
		clusterRole("system:aggregate-to-edit", map[string]string{aggregateToEdit: "true"}, editRules()...),
		clusterRole("system:aggregate-to-view", map[string]string{aggregateToView: "true"}, viewRules()...),
	}
}

func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(read, core, "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
		rule(v("impersonate"), core, "serviceaccounts"),
		rule(write, core, "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
		rule(v("create"), core, "pods/eviction"),
		rule(write, core, "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets"),
		rule(v("create"), core, "serviceaccounts/token"),
		rule(write, g("apps"), "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
			"deployments/rollback", "replicasets", "replicasets/scale"),
		rule(write, g("autoscaling"), "horizontalpodautoscalers"),
		rule(write, g("batch"), "jobs", "cronjobs"),
		rule(write, g("extensions"), "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
			"replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies"),
		rule(write, g("policy"), "poddisruptionbudgets"),
		rule(write, g("networking.k8s.io"), "networkpolicies", "ingresses"),
	}
}

func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(read, core, "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
		rule(read, core, "limitranges", "resourcequotas", "bindings", "events",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"),
		// Reading namespaces through a RoleBinding means reading that one
		// namespace: how a tenant learns which namespaces it has.
		rule(read, core, "namespaces"),
		rule(read, g("discovery.k8s.io"), "endpointslices"),
		rule(read, g("apps"), "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale"),
		rule(read, g("autoscaling"), "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(read, g("batch"), "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
		rule(read, g("extensions"), "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
			"networkpolicies"),
		rule(read, g("policy"), "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(read, g("networking.k8s.io"), "networkpolicies", "ingresses", "ingresses/status"),
	}
}

// systemRoles are the roles of Skiff's own components: the node agent
// (upstream system:node), the scheduler, and one role per controller
// (upstream controller_policy.go, plus list/watch on what each controller's
// informers read, since Skiff has no shared kube-controller-manager
// informer identity).
func systemRoles() []rbacv1.ClusterRole {
	return []rbacv1.ClusterRole{
		clusterRole("system:node", nil,
			rule(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			rule(v("create"), g("authorization.k8s.io"), "subjectaccessreviews", "localsubjectaccessreviews"),
			rule(read, core, "services"),
			rule(v("create", "get", "list", "watch"), core, "nodes"),
			rule(v("update", "patch"), core, "nodes/status"),
			rule(v("update", "patch"), core, "nodes"),
			rule(v("create", "update", "patch"), core, "events"),
			rule(read, core, "pods"),
			rule(v("create", "delete"), core, "pods"),
			rule(v("update", "patch"), core, "pods/status"),
			rule(v("create"), core, "pods/eviction"),
			rule(read, core, "secrets", "configmaps"),
			rule(v("get"), core, "persistentvolumeclaims", "persistentvolumes"),
			rule(v("get"), core, "endpoints"),
			rule(v("get", "create", "update", "patch", "delete"), g("coordination.k8s.io"), "leases"),
			rule(v("create"), core, "serviceaccounts/token"),
		),
		// Upstream's kube-controller-manager role, which its tokens
		// controller (running as the controller manager itself) uses.
		clusterRole("system:kube-controller-manager", nil,
			eventsRule(),
			rule(v("create"), g("coordination.k8s.io"), "leases"),
			rbacv1.PolicyRule{Verbs: v("get", "update"), APIGroups: g("coordination.k8s.io"), Resources: []string{"leases"}, ResourceNames: []string{"kube-controller-manager"}},
			rule(v("create"), core, "secrets", "serviceaccounts"),
			rule(v("delete"), core, "secrets"),
			rule(v("get"), core, "configmaps", "namespaces", "secrets", "serviceaccounts"),
			rule(v("update"), core, "secrets", "serviceaccounts"),
			rule(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			rule(v("create"), g("authorization.k8s.io"), "subjectaccessreviews"),
			rule(v("list", "watch"), g("*"), "*"),
			rule(v("create"), core, "serviceaccounts/token"),
		),
		clusterRole("system:kube-scheduler", nil,
			eventsRule(),
			rule(read, core, "nodes", "namespaces"),
			rule(v("get", "list", "watch", "delete"), core, "pods"),
			rule(v("create"), core, "pods/binding", "bindings"),
			rule(v("patch", "update"), core, "pods/status"),
			rule(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			rule(v("create"), g("authorization.k8s.io"), "subjectaccessreviews"),
		),
		clusterRole(ControllerRolePrefix+"job-controller", nil,
			rule(v("get", "list", "watch", "update", "patch"), g("batch"), "jobs"),
			rule(v("update", "patch"), g("batch"), "jobs/status"),
			rule(v("update"), g("batch"), "jobs/finalizers"),
			rule(v("list", "watch", "create", "delete", "patch"), core, "pods"),
			eventsRule(),
		),
		clusterRole(ControllerRolePrefix+"generic-garbage-collector", nil,
			rule(v("get", "list", "watch", "patch", "update", "delete"), g("*"), "*"),
			eventsRule(),
		),
		clusterRole(ControllerRolePrefix+"namespace-controller", nil,
			rule(v("get", "list", "watch", "delete"), core, "namespaces"),
			rule(v("update"), core, "namespaces/finalize", "namespaces/status"),
			rule(v("get", "list", "delete", "deletecollection"), g("*"), "*"),
		),
		clusterRole(ControllerRolePrefix+"pod-garbage-collector", nil,
			rule(v("list", "watch", "delete"), core, "pods"),
			rule(v("get", "list", "watch"), core, "nodes"),
			rule(v("patch"), core, "pods/status"),
		),
		clusterRole(ControllerRolePrefix+"root-ca-cert-publisher", nil,
			rule(v("create", "update"), core, "configmaps"),
			eventsRule(),
		),
		clusterRole(ControllerRolePrefix+"service-account-controller", nil,
			rule(v("create"), core, "serviceaccounts"),
			rule(v("list", "watch"), core, "serviceaccounts", "namespaces"),
			eventsRule(),
		),
		clusterRole(ControllerRolePrefix+"ttl-after-finished-controller", nil,
			rule(v("get", "list", "watch", "delete"), g("batch"), "jobs"),
			eventsRule(),
		),
	}
}

// Controllers are the controller names with a bootstrap role; the
// controller runs as service account kube-system/<name>.
var Controllers = []string{"job-controller", "generic-garbage-collector", "namespace-controller",
	"pod-garbage-collector", "root-ca-cert-publisher", "service-account-controller", "ttl-after-finished-controller"}

func binding(name string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// BootstrapClusterRoles returns the ClusterRoles every Skiff has, labelled
// and annotated as upstream's (kubernetes.io/bootstrapping=rbac-defaults,
// rbac.authorization.k8s.io/autoupdate=true).
func BootstrapClusterRoles() []rbacv1.ClusterRole {
	roles := append(userFacingRoles(), systemRoles()...)
	for i := range roles {
		addDefaultMetadata(&roles[i].ObjectMeta)
	}
	return roles
}

// BootstrapClusterRoleBindings returns the default bindings: cluster-admin
// to system:masters, discovery, basic-user and public-info-viewer as
// upstream, system:node to system:nodes (Skiff has no Node authorizer, so
// RBAC grants the node role as pre-1.8 upstream did), the scheduler, and
// each controller role to its service account.
func BootstrapClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	bs := []rbacv1.ClusterRoleBinding{
		binding("cluster-admin", group(user.SystemPrivilegedGroup)),
		binding("system:discovery", group(user.AllAuthenticated)),
		binding("system:basic-user", group(user.AllAuthenticated)),
		binding("system:public-info-viewer", group(user.AllAuthenticated), group(user.AllUnauthenticated)),
		binding("system:service-account-issuer-discovery", group(serviceaccount.AllServiceAccountsGroup)),
		binding("system:node", group(user.NodesGroup)),
		binding("system:kube-controller-manager", userSubject(user.KubeControllerManager)),
		binding("system:kube-scheduler", userSubject(user.KubeScheduler)),
	}
	for _, c := range Controllers {
		bs = append(bs, binding(ControllerRolePrefix+c, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: c, Namespace: "kube-system"}))
	}
	for i := range bs {
		addDefaultMetadata(&bs[i].ObjectMeta)
	}
	return bs
}

func addDefaultMetadata(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels["kubernetes.io/bootstrapping"] = "rbac-defaults"
	m.Annotations = map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
}
