// Package bench measures a Kubernetes API server, Skiff or any other, through
// its public API only, so the same numbers can be taken against both. It is
// the library behind cmd/skiff-bench.
//
// Each scenario is one Run function taking a config that embeds Common:
//
//	RunCRUD       create+delete suspended Jobs: ops/s, latency per verb
//	RunCascade    a Job with P pods, then DELETE with a propagation policy:
//	              time until all pods exist and until they are gone (watches)
//	RunLifecycle  J Jobs x P pods: time from create to Complete, Jobs/s, Pods/s
//	              (optionally playing the kubelet with a FakeNode)
//	RunWatch      K watchers while writers make E changes: delivery latency,
//	              lost, duplicate and out-of-order events
//	RunList       N stored objects: full and paginated list latency
//
// Every scenario works in its own fresh namespace skiff-bench-<scenario>-<random>,
// checks what it measures (a wrong count or a lost event is a
// *VerificationError returned next to the complete result), and deletes its
// namespace at the end. Results marshal to JSON and have a one-line Summary.
//
// Usage from a test, against a server reachable through a *rest.Config:
//
//	res, err := bench.RunCRUD(ctx, bench.CRUDConfig{
//		Common:  bench.Common{RestConfig: cfg, Timeout: 30 * time.Second},
//		Workers: 2,
//		N:       20,
//	})
//	if err != nil {
//		t.Fatal(err) // *bench.VerificationError when a check failed
//	}
//	t.Log(res.Summary()) // crud: 812 ops/s, create p99 4.1 ms, delete p99 3.9 ms, 0 errors
package bench
