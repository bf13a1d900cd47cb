// Package job is the registry strategy for batch/v1 Jobs: defaulting,
// create/update preparation (generated selector and labels, status reset,
// generation), validation with upstream's messages and field paths, the
// /status subresource rules, field-selector attributes and the server-side
// table (kubectl get jobs).
//
// The server wires it like this:
//
//	job.SetDefaults(obj)                     // after decoding and after reading from storage
//	job.Strategy.PrepareForCreate(ctx, obj)  // uid and name already set
//	errs := job.Strategy.Validate(ctx, obj)  // 422 when len(errs) > 0
//	warnings := job.Strategy.WarningsOnCreate(ctx, obj)
//
//	job.StatusStrategy.PrepareForUpdate(ctx, obj, old) // PUT .../jobs/<name>/status
//	errs = job.StatusStrategy.ValidateUpdate(ctx, obj, old)
//
//	table, err := job.TableConvertor.ConvertToTable(ctx, list, &metav1.TableOptions{})
//
// Everything here is stateless and safe for concurrent use. Pod template
// defaulting and validation come from package
// github.com/skiff-sh/skiff/internal/registry/pod.
package job
