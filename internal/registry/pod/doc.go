// Package pod holds the registry strategy for core/v1 Pods: upstream
// defaulting (SetDefaults, SetDefaultsPodSpec, SetDefaultsPodTemplateSpec),
// validation (ValidatePodSpec, ValidatePodTemplateSpec, pod create, update
// immutability and status rules), the graceful-delete rules, field-selector
// attributes and the server-side table.
//
// A store wires it as:
//
//	cfg := generic.StoreConfig{ /* ... */ }
//	// decode + pod.SetDefaults(obj) on every request body and storage read
//	// main resource: pod.Strategy (also a generic.GracefulDeleteStrategy)
//	// pods/status:   pod.StatusStrategy
//	// selectors:     pod.GetAttrs; tables: pod.TableConvertor
//
// Other resources embed pod templates (Jobs) and call
// pod.SetDefaultsPodTemplateSpec and pod.ValidatePodTemplateSpec.
package pod
