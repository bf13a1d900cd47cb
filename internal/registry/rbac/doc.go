// Package rbac holds the strategies of the four rbac.authorization.k8s.io/v1
// kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding), upstream's
// bootstrap policy (the default ClusterRoles and bindings, plus roles for
// Skiff's controllers and node agents), and a lister over the generic stores
// for the RBAC authorizer.
//
//	roles, _ := generic.NewStore(generic.StoreConfig{Strategy: rbac.RoleStrategy, ...})
//	...
//	if err := rbac.EnsureBootstrapPolicy(ctx, clusterRoles, clusterRoleBindings); err != nil { ... }
//	authz := auth.NewRBAC(rbac.NewLister(roles, roleBindings, clusterRoles, clusterRoleBindings))
package rbac
