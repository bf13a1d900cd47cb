// Package secret is the registry strategy for core/v1 Secrets: defaulting
// (type Opaque, stringData folded into data as upstream's conversion does),
// upstream validation (keys, the 1 MiB limit, type-specific required keys,
// immutable type and data), TLS key-pair warnings, the "type" field selector
// and the server-side table (NAME, TYPE, DATA, AGE).
//
//	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pw", Namespace: "default"},
//		StringData: map[string]string{"password": "hunter2"}}
//	secret.SetDefaults(s) // s.Type == Opaque, s.Data["password"] set, s.StringData nil
//	secret.Strategy.PrepareForCreate(ctx, s)
//	errs := secret.Strategy.Validate(ctx, s)
package secret
