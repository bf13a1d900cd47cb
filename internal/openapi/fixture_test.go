package openapi

import corev1 "k8s.io/api/core/v1"

// allVerbs are the verbs of an ordinary stored resource.
var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

var statusSub = Subresource{Name: "status", Verbs: []string{"get", "patch", "update"}}

// skiffResources is what Skiff serves (issue 2 and the later issues): the
// fixture every test builds documents from.
func skiffResources() []Resource {
	return []Resource{
		{Version: "v1", Kind: "Namespace", ListKind: "NamespaceList", Resource: "namespaces",
			Verbs:        []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			Subresources: []Subresource{statusSub, {Name: "finalize", Verbs: []string{"update"}}}},
		{Version: "v1", Kind: "Pod", ListKind: "PodList", Resource: "pods", Namespaced: true, Verbs: allVerbs,
			DeleteReturnsObject: true,
			Subresources: []Subresource{
				statusSub,
				{Name: "log", Verbs: []string{"get"}},
				{Name: "binding", Kind: "Binding", Verbs: []string{"create"}},
				{Name: "eviction", Group: "policy", Version: "v1", Kind: "Eviction", Verbs: []string{"create"}},
				{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}, Connect: &corev1.PodExecOptions{}},
				{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}, Connect: &corev1.PodPortForwardOptions{}},
			}},
		{Version: "v1", Kind: "Event", ListKind: "EventList", Resource: "events", Namespaced: true, Verbs: allVerbs},
		{Version: "v1", Kind: "Node", ListKind: "NodeList", Resource: "nodes", Verbs: allVerbs,
			Subresources: []Subresource{statusSub}},
		{Version: "v1", Kind: "ServiceAccount", ListKind: "ServiceAccountList", Resource: "serviceaccounts", Namespaced: true, Verbs: allVerbs},
		{Version: "v1", Kind: "ConfigMap", ListKind: "ConfigMapList", Resource: "configmaps", Namespaced: true, Verbs: allVerbs},
		{Version: "v1", Kind: "Secret", ListKind: "SecretList", Resource: "secrets", Namespaced: true, Verbs: allVerbs},
		{Group: "batch", Version: "v1", Kind: "Job", ListKind: "JobList", Resource: "jobs", Namespaced: true, Verbs: allVerbs,
			Subresources: []Subresource{statusSub}},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", ListKind: "LeaseList", Resource: "leases", Namespaced: true, Verbs: allVerbs},
		{Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Resource: "selfsubjectreviews", Verbs: []string{"create"}},
		{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview", Resource: "selfsubjectaccessreviews", Verbs: []string{"create"}},
		{Group: "authorization.k8s.io", Version: "v1", Kind: "SubjectAccessReview", Resource: "subjectaccessreviews", Verbs: []string{"create"}},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", ListKind: "RoleList", Resource: "roles", Namespaced: true, Verbs: allVerbs},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding", ListKind: "RoleBindingList", Resource: "rolebindings", Namespaced: true, Verbs: allVerbs},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", ListKind: "ClusterRoleList", Resource: "clusterroles", Verbs: allVerbs},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding", ListKind: "ClusterRoleBindingList", Resource: "clusterrolebindings", Verbs: allVerbs},
	}
}
