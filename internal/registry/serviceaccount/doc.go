// Package serviceaccount is the registry strategy for core/v1
// ServiceAccounts: upstream validation, secret references reduced to their
// names, the deprecated enforce-mountable-secrets warning, field-selector
// attributes and the server-side table (NAME, SECRETS, AGE).
//
//	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"}}
//	serviceaccount.Strategy.PrepareForCreate(ctx, sa)
//	errs := serviceaccount.Strategy.Validate(ctx, sa)
package serviceaccount
