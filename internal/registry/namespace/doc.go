// Package namespace is the registry strategy for core/v1 Namespaces: the
// main resource, the /status subresource (StatusStrategy) and the /finalize
// subresource (FinalizeStrategy), with upstream defaulting (the
// kubernetes.io/metadata.name label, phase Active), the "kubernetes"
// finalizer added on create, validation, field-selector attributes and the
// server-side table (NAME, STATUS, AGE).
//
//	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
//	namespace.SetDefaults(ns)
//	namespace.Strategy.PrepareForCreate(ctx, ns) // phase Active, finalizer "kubernetes"
//	errs := namespace.Strategy.Validate(ctx, ns)
//
//	// Later, the namespace controller removes its finalizer:
//	updated := stored.DeepCopy()
//	updated.Spec.Finalizers = nil
//	namespace.FinalizeStrategy.PrepareForUpdate(ctx, updated, stored)
//	errs = namespace.FinalizeStrategy.ValidateUpdate(ctx, updated, stored)
package namespace
