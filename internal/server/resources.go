package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/informer"
	nodeagent "github.com/skiff-sh/skiff/internal/node"
	"github.com/skiff-sh/skiff/internal/registry/configmap"
	"github.com/skiff-sh/skiff/internal/registry/event"
	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/registry/job"
	"github.com/skiff-sh/skiff/internal/registry/lease"
	"github.com/skiff-sh/skiff/internal/registry/namespace"
	"github.com/skiff-sh/skiff/internal/registry/node"
	"github.com/skiff-sh/skiff/internal/registry/pod"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/registry/replicas"
	"github.com/skiff-sh/skiff/internal/registry/secret"
	"github.com/skiff-sh/skiff/internal/registry/service"
	"github.com/skiff-sh/skiff/internal/registry/serviceaccount"
	"github.com/skiff-sh/skiff/internal/satoken"
	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// allVerbs is the verb set of most resources, in upstream's discovery order.
var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// statusVerbs are the verbs of a /status subresource.
var statusVerbs = []string{"get", "patch", "update"}

// jobDeleteWarning is the Warning upstream's Job storage adds to a delete
// that names no propagation (the batch/v1 default orphans the Pods).
const jobDeleteWarning = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"

// resources builds every store and its API description.
type resources struct {
	list       []*apiserver.Resource
	namespaces *generic.Store
	pods       *generic.Store
	// podLogs, podExec, podAttach, podPortForward and podEviction are served by the node agent, which can only
	// start once the API serves.
	podLogs, podExec, podAttach, podPortForward, podEviction *nodeagent.DeferredHandler
	// RBAC stores feed the authorizer and the bootstrap policy.
	roles, roleBindings, clusterRoles, clusterRoleBindings *generic.Store
	// escalation guards RBAC writes; its Authorizer is set once built.
	escalation *auth.EscalationCheck
	// reviews serves the self-subject reviews once the authorizer exists.
	reviews *reviewsHandler
	// services holds the bootstrap kubernetes Service; serviceAlloc hands
	// out cluster IPs and node ports and runs the repair loop.
	services     *generic.Store
	serviceAlloc *service.Allocator
	// serviceAccounts, secrets and nodes back service account tokens: what
	// they are issued for and bound to.
	serviceAccounts, secrets, nodes *generic.Store
}

func defaulter[T runtime.Object](fn func(T)) func(runtime.Object) {
	return func(obj runtime.Object) {
		if t, ok := obj.(T); ok {
			fn(t)
		}
	}
}

// simpleResource is a resource with a plain store and at most a status
// subresource.
type simpleResource struct {
	res   apiserver.Resource
	store generic.StoreConfig
	sub   generic.Strategy
}

// rbacResources are the rbac.authorization.k8s.io/v1 kinds. Writes go
// through upstream's escalation prevention.
func rbacResources(out *resources) []simpleResource {
	gv := rbacv1.SchemeGroupVersion
	mk := func(name, singular, kind string, newObj, newList func() runtime.Object, st generic.Strategy, def func(runtime.Object), tc generic.TableConvertor) simpleResource {
		return simpleResource{
			res: apiserver.Resource{GroupVersion: gv, Name: name, SingularName: singular, Kind: kind, ListKind: kind + "List"},
			store: generic.StoreConfig{Resource: rbacv1.Resource(name), Kind: gv.WithKind(kind), NewFunc: newObj, NewListFunc: newList,
				Strategy: st, Defaulter: def, AttrFunc: rbac.GetAttrs, TableConvertor: tc, Admit: out.admitRBAC},
		}
	}
	return []simpleResource{
		mk("roles", "role", "Role", func() runtime.Object { return &rbacv1.Role{} }, func() runtime.Object { return &rbacv1.RoleList{} },
			rbac.RoleStrategy, defaulter(rbac.SetRoleDefaults), rbac.RoleTableConvertor),
		mk("rolebindings", "rolebinding", "RoleBinding", func() runtime.Object { return &rbacv1.RoleBinding{} }, func() runtime.Object { return &rbacv1.RoleBindingList{} },
			rbac.RoleBindingStrategy, defaulter(rbac.SetRoleBindingDefaults), rbac.RoleBindingTableConvertor),
		mk("clusterroles", "clusterrole", "ClusterRole", func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			rbac.ClusterRoleStrategy, defaulter(rbac.SetClusterRoleDefaults), rbac.ClusterRoleTableConvertor),
		mk("clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			rbac.ClusterRoleBindingStrategy, defaulter(rbac.SetClusterRoleBindingDefaults), rbac.ClusterRoleBindingTableConvertor),
	}
}

func buildResources(st storage.Interface, hub *cacher.Hub, logger *slog.Logger, tokens *satoken.Issuer) (*resources, error) {
	out := &resources{podLogs: &nodeagent.DeferredHandler{}, podExec: &nodeagent.DeferredHandler{}, podAttach: &nodeagent.DeferredHandler{}, podPortForward: &nodeagent.DeferredHandler{}, podEviction: &nodeagent.DeferredHandler{}, escalation: &auth.EscalationCheck{}, reviews: &reviewsHandler{}}
	nsLifecycle := &namespaceLifecycle{}
	mk := func(cfg generic.StoreConfig) (*generic.Store, error) {
		cfg.Storage, cfg.Hub, cfg.Logger, cfg.Namespaces = st, hub, logger, nsLifecycle
		return generic.NewStore(cfg)
	}
	var err error
	out.namespaces, err = mk(generic.StoreConfig{
		Resource: corev1.Resource("namespaces"), Kind: corev1.SchemeGroupVersion.WithKind("Namespace"),
		NewFunc: func() runtime.Object { return &corev1.Namespace{} }, NewListFunc: func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy: namespace.Strategy, Defaulter: defaulter(namespace.SetDefaults), AttrFunc: namespace.GetAttrs, TableConvertor: namespace.TableConvertor,
		// Upstream's ShouldDeleteNamespaceDuringUpdate: only once the
		// namespace controller finalized it (spec.finalizers empty).
		ShouldDeleteDuringUpdate: func(obj runtime.Object) bool {
			ns, ok := obj.(*corev1.Namespace)
			return ok && len(ns.Spec.Finalizers) == 0
		},
	})
	if err != nil {
		return nil, err
	}
	nsLifecycle.store = out.namespaces
	podAdmission := &pod.Admission{ServiceAccounts: out.serviceAccount}
	out.pods, err = mk(generic.StoreConfig{
		Resource: corev1.Resource("pods"), Kind: corev1.SchemeGroupVersion.WithKind("Pod"),
		NewFunc: func() runtime.Object { return &corev1.Pod{} }, NewListFunc: func() runtime.Object { return &corev1.PodList{} },
		Strategy: pod.Strategy, Defaulter: defaulter(pod.SetDefaults), AttrFunc: pod.GetAttrs, TableConvertor: pod.TableConvertor,
		ReturnDeletedObject: true, Mutate: podAdmission.AdmitCreate,
	})
	if err != nil {
		return nil, err
	}
	nsDeleter := &namespaceDeleter{store: out.namespaces}
	out.list = append(out.list,
		&apiserver.Resource{
			GroupVersion: corev1.SchemeGroupVersion, Name: "namespaces", SingularName: "namespace", Kind: "Namespace", ListKind: "NamespaceList",
			ShortNames: []string{"ns"}, Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			Store: out.namespaces, Delete: nsDeleter.Delete,
			Subresources: map[string]*apiserver.Subresource{
				"status":   {Kind: "Namespace", Verbs: statusVerbs, Store: out.namespaces.WithStrategy(namespace.StatusStrategy)},
				"finalize": {Kind: "Namespace", Verbs: []string{"update"}, Store: out.namespaces.WithStrategy(namespace.FinalizeStrategy), AfterUpdate: nsDeleter.AfterFinalize},
			},
		},
		&apiserver.Resource{
			GroupVersion: corev1.SchemeGroupVersion, Name: "pods", SingularName: "pod", Kind: "Pod", ListKind: "PodList",
			ShortNames: []string{"po"}, Categories: []string{"all"}, Verbs: allVerbs, Store: out.pods,
			Subresources: map[string]*apiserver.Subresource{
				"status":              {Kind: "Pod", Verbs: statusVerbs, Store: out.pods.WithStrategy(pod.StatusStrategy)},
				"ephemeralcontainers": {Kind: "Pod", Verbs: statusVerbs, Store: out.pods.WithStrategy(pod.EphemeralContainersStrategy)},
				"binding":             {Kind: "Binding", Verbs: []string{"create"}, Handler: &bindingHandler{pods: out.pods}},
				"log":                 {Kind: "Pod", Verbs: []string{"get"}, Handler: out.podLogs},
				"exec":                {Kind: "PodExecOptions", Verbs: []string{"create", "get"}, Handler: out.podExec},
				"attach":              {Kind: "PodAttachOptions", Verbs: []string{"create", "get"}, Handler: out.podAttach},
				"portforward":         {Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}, Handler: out.podPortForward},
				"eviction":            {Kind: "Eviction", GroupVersion: &policyv1.SchemeGroupVersion, Verbs: []string{"create"}, Handler: out.podEviction},
			},
		},
	)
	if err := out.buildServices(generic.StoreConfig{Storage: st, Hub: hub, Logger: logger, Namespaces: nsLifecycle}); err != nil {
		return nil, err
	}
	simple := []simpleResource{
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "events", SingularName: "event", Kind: "Event", ListKind: "EventList", ShortNames: []string{"ev"}},
			generic.StoreConfig{Resource: corev1.Resource("events"), Kind: corev1.SchemeGroupVersion.WithKind("Event"),
				NewFunc: func() runtime.Object { return &corev1.Event{} }, NewListFunc: func() runtime.Object { return &corev1.EventList{} },
				Strategy: event.Strategy, Defaulter: defaulter(event.SetDefaults), AttrFunc: event.GetAttrs, TableConvertor: event.TableConvertor}, nil},
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "nodes", SingularName: "node", Kind: "Node", ListKind: "NodeList", ShortNames: []string{"no"}},
			generic.StoreConfig{Resource: corev1.Resource("nodes"), Kind: corev1.SchemeGroupVersion.WithKind("Node"),
				NewFunc: func() runtime.Object { return &corev1.Node{} }, NewListFunc: func() runtime.Object { return &corev1.NodeList{} },
				Strategy: node.Strategy, Defaulter: defaulter(node.SetDefaults), AttrFunc: node.GetAttrs, TableConvertor: node.TableConvertor}, node.StatusStrategy},
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "serviceaccounts", SingularName: "serviceaccount", Kind: "ServiceAccount", ListKind: "ServiceAccountList", ShortNames: []string{"sa"}},
			generic.StoreConfig{Resource: corev1.Resource("serviceaccounts"), Kind: corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
				NewFunc: func() runtime.Object { return &corev1.ServiceAccount{} }, NewListFunc: func() runtime.Object { return &corev1.ServiceAccountList{} },
				Strategy: serviceaccount.Strategy, Defaulter: defaulter(serviceaccount.SetDefaults), AttrFunc: serviceaccount.GetAttrs, TableConvertor: serviceaccount.TableConvertor}, nil},
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "configmaps", SingularName: "configmap", Kind: "ConfigMap", ListKind: "ConfigMapList", ShortNames: []string{"cm"}},
			generic.StoreConfig{Resource: corev1.Resource("configmaps"), Kind: corev1.SchemeGroupVersion.WithKind("ConfigMap"),
				NewFunc: func() runtime.Object { return &corev1.ConfigMap{} }, NewListFunc: func() runtime.Object { return &corev1.ConfigMapList{} },
				Strategy: configmap.Strategy, Defaulter: defaulter(configmap.SetDefaults), AttrFunc: configmap.GetAttrs, TableConvertor: configmap.TableConvertor}, nil},
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "secrets", SingularName: "secret", Kind: "Secret", ListKind: "SecretList"},
			generic.StoreConfig{Resource: corev1.Resource("secrets"), Kind: corev1.SchemeGroupVersion.WithKind("Secret"),
				NewFunc: func() runtime.Object { return &corev1.Secret{} }, NewListFunc: func() runtime.Object { return &corev1.SecretList{} },
				Strategy: secret.Strategy, Defaulter: defaulter(secret.SetDefaults), AttrFunc: secret.GetAttrs, TableConvertor: secret.TableConvertor}, nil},
		{apiserver.Resource{GroupVersion: batchv1.SchemeGroupVersion, Name: "jobs", SingularName: "job", Kind: "Job", ListKind: "JobList", Categories: []string{"all"},
			DeleteWarning: func(o *metav1.DeleteOptions) string {
				if o.PropagationPolicy == nil && o.OrphanDependents == nil {
					return jobDeleteWarning
				}
				return ""
			}},
			generic.StoreConfig{Resource: batchv1.Resource("jobs"), Kind: batchv1.SchemeGroupVersion.WithKind("Job"),
				NewFunc: func() runtime.Object { return &batchv1.Job{} }, NewListFunc: func() runtime.Object { return &batchv1.JobList{} },
				Strategy: job.Strategy, Defaulter: defaulter(job.SetDefaults), AttrFunc: job.GetAttrs, TableConvertor: job.TableConvertor}, job.StatusStrategy},
		{apiserver.Resource{GroupVersion: coordinationv1.SchemeGroupVersion, Name: "leases", SingularName: "lease", Kind: "Lease", ListKind: "LeaseList"},
			generic.StoreConfig{Resource: coordinationv1.Resource("leases"), Kind: coordinationv1.SchemeGroupVersion.WithKind("Lease"),
				NewFunc: func() runtime.Object { return &coordinationv1.Lease{} }, NewListFunc: func() runtime.Object { return &coordinationv1.LeaseList{} },
				Strategy: lease.Strategy, Defaulter: defaulter(lease.SetDefaults), AttrFunc: lease.GetAttrs, TableConvertor: lease.TableConvertor}, nil},
	}
	stores := map[string]**generic.Store{"roles": &out.roles, "rolebindings": &out.roleBindings, "clusterroles": &out.clusterRoles, "clusterrolebindings": &out.clusterRoleBindings,
		"serviceaccounts": &out.serviceAccounts, "secrets": &out.secrets, "nodes": &out.nodes}
	var serviceAccounts *apiserver.Resource
	for _, s := range append(simple, rbacResources(out)...) {
		store, err := mk(s.store)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", s.res.Name, err)
		}
		if p, ok := stores[s.res.Name]; ok {
			*p = store
		}
		r := s.res
		r.Verbs, r.Store = allVerbs, store
		if s.sub != nil {
			r.Subresources = map[string]*apiserver.Subresource{"status": {Kind: r.Kind, Verbs: statusVerbs, Store: store.WithStrategy(s.sub)}}
		}
		if r.Name == "serviceaccounts" {
			serviceAccounts = &r
		}
		out.list = append(out.list, &r)
	}
	serviceAccounts.Subresources = map[string]*apiserver.Subresource{
		"token": {Kind: "TokenRequest", GroupVersion: &authenticationv1.SchemeGroupVersion, Verbs: []string{"create"},
			Handler: &tokenRequestHandler{serviceAccounts: out.serviceAccounts, pods: out.pods, secrets: out.secrets, nodes: out.nodes,
				issuer: tokens, audiences: authenticator.Audiences{satoken.DefaultIssuer}, now: time.Now}},
	}
	for _, r := range replicaResources() {
		store, err := mk(r.store)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", r.res.Name, err)
		}
		res := r.res
		res.Verbs, res.Store = replicas.Verbs, store
		out.list = append(out.list, &res)
	}
	out.list = append(out.list, reviewResources(out.reviews)...)
	return out, nil
}

// replicaResources are ReplicationControllers and ReplicaSets, served
// read-only (see package replicas).
func replicaResources() []struct {
	res   apiserver.Resource
	store generic.StoreConfig
} {
	return []struct {
		res   apiserver.Resource
		store generic.StoreConfig
	}{
		{apiserver.Resource{GroupVersion: corev1.SchemeGroupVersion, Name: "replicationcontrollers", SingularName: "replicationcontroller",
			Kind: "ReplicationController", ListKind: "ReplicationControllerList", ShortNames: []string{"rc"}, Categories: []string{"all"}},
			generic.StoreConfig{Resource: corev1.Resource("replicationcontrollers"), Kind: corev1.SchemeGroupVersion.WithKind("ReplicationController"),
				NewFunc: func() runtime.Object { return &corev1.ReplicationController{} }, NewListFunc: func() runtime.Object { return &corev1.ReplicationControllerList{} },
				Strategy: replicas.ReplicationControllerStrategy, TableConvertor: replicas.ReplicationControllerTable}},
		{apiserver.Resource{GroupVersion: appsv1.SchemeGroupVersion, Name: "replicasets", SingularName: "replicaset",
			Kind: "ReplicaSet", ListKind: "ReplicaSetList", ShortNames: []string{"rs"}, Categories: []string{"all"}},
			generic.StoreConfig{Resource: appsv1.Resource("replicasets"), Kind: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
				NewFunc: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewListFunc: func() runtime.Object { return &appsv1.ReplicaSetList{} },
				Strategy: replicas.ReplicaSetStrategy, TableConvertor: replicas.ReplicaSetTable}},
	}
}

// serviceAccount reads a service account for the pods' admission; the store
// is built after the pods'.
func (r *resources) serviceAccount(ctx context.Context, namespace, name string, live bool) (*corev1.ServiceAccount, error) {
	opts := metav1.GetOptions{}
	if !live {
		opts.ResourceVersion = "0"
	}
	obj, err := r.serviceAccounts.Get(ctx, namespace, name, opts)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

// admitRBAC refuses RBAC writes that would grant the requester permissions
// it does not hold (upstream's escalation prevention).
func (r *resources) admitRBAC(ctx context.Context, obj, _ runtime.Object) error {
	e := r.escalation
	if e.Authorizer == nil {
		return nil // before the authorizer exists: the bootstrap policy
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		return e.ConfirmRole(ctx, rbacv1.Resource("roles"), o.Namespace, o.Name, o.Rules)
	case *rbacv1.ClusterRole:
		return e.ConfirmRole(ctx, rbacv1.Resource("clusterroles"), "", o.Name, o.Rules)
	case *rbacv1.RoleBinding:
		return e.ConfirmBinding(ctx, rbacv1.Resource("rolebindings"), o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return e.ConfirmBinding(ctx, rbacv1.Resource("clusterrolebindings"), "", o.Name, o.RoleRef)
	}
	return nil
}

// roleRules returns the rules of the role a binding refers to.
func (r *resources) roleRules(ctx context.Context, namespace string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, error) {
	if ref.Kind == "ClusterRole" {
		obj, err := r.clusterRoles.Get(ctx, "", ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*rbacv1.ClusterRole).Rules, nil
	}
	obj, err := r.roles.Get(ctx, namespace, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*rbacv1.Role).Rules, nil
}

// informerSource serves the informers of the in-process components from the
// watch cache of every watchable resource (see package informer).
func informerSource(served []*apiserver.Resource) (*informer.Source, error) {
	var list []informer.Resource
	for _, r := range served {
		if r.Handler != nil || !slices.Contains(r.Verbs, "watch") {
			continue
		}
		obj, err := scheme.Scheme.New(r.GroupVersion.WithKind(r.Kind))
		if err != nil {
			return nil, fmt.Errorf("informer source for %s: %w", r.Name, err)
		}
		list = append(list, informer.Resource{GVR: r.GroupVersion.WithResource(r.Name), Object: obj, Store: r.Store})
	}
	return informer.NewSource(list), nil
}
