package generic

import "context"

type dryRunKey struct{}

// withDryRun marks ctx as the context of a dry-run write, for the
// StoreConfig.Admit hooks that reserve something outside the object itself
// (a Service's cluster IP): they must give it back before the request ends.
func withDryRun(ctx context.Context, dryRun bool) context.Context {
	if !dryRun {
		return ctx
	}
	return context.WithValue(ctx, dryRunKey{}, true)
}

// IsDryRun reports whether ctx belongs to a dry-run write (dryRun=All): an
// Admit hook may check and compute, but must persist nothing.
func IsDryRun(ctx context.Context) bool {
	v, _ := ctx.Value(dryRunKey{}).(bool)
	return v
}
