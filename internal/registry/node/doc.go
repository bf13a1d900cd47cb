// Package node is the registry strategy for core/v1 Nodes (cluster-scoped):
// the main resource and the /status subresource the node agent writes, with
// upstream defaulting (allocatable from capacity, quantities rounded to
// milli-units), validation (taints, podCIDRs, resource quantities, immutable
// providerID and podCIDRs), the spec.unschedulable field selector and the
// server-side table (NAME, STATUS, ROLES, AGE, VERSION + wide columns).
//
//	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
//	node.SetDefaults(n)
//	node.Strategy.PrepareForCreate(ctx, n) // status may be set on create
//	errs := node.Strategy.Validate(ctx, n)
//	// heartbeats: node.StatusStrategy.PrepareForUpdate / ValidateUpdate
package node
