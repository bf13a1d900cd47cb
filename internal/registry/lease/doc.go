// Package lease is the registry strategy for coordination.k8s.io/v1 Leases:
// upstream validation (leaseDurationSeconds > 0, leaseTransitions >= 0, the
// coordinated-election strategy fields), dropping of the coordinated leader
// election fields (feature gate CoordinatedLeaderElection, off by default in
// Kubernetes 1.37), field-selector attributes and the server-side table
// (NAME, HOLDER, AGE).
//
//	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}}
//	lease.Strategy.PrepareForCreate(ctx, l)
//	errs := lease.Strategy.Validate(ctx, l)
package lease
