package bench

import "testing"

func TestResult_Summary(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		res  Result
		want string
	}{
		"crud": {
			res:  CRUDResult{OpsPerSecond: 4123.4, Create: LatencySummary{P99Ms: 9.12}, Delete: LatencySummary{P99Ms: 8.66}},
			want: "crud: 4123 ops/s, create p99 9.1 ms, delete p99 8.7 ms, 0 errors",
		},
		"crud with server stats": {
			res: CRUDResult{OpsPerSecond: 10, ErrorTotal: 2,
				Server: &ProcStats{IdleRSSBytes: 40 << 20, PeakRSSBytes: 120 << 20, CPUSeconds: 3.214}},
			want: "crud: 10 ops/s, create p99 0.0 ms, delete p99 0.0 ms, 2 errors; server RSS idle 40.0 MiB, peak 120.0 MiB, CPU 3.21 s",
		},
		"cascade background": {
			res:  CascadeResult{Propagation: "Background", Pods: 100, PodsGoneSeconds: 1.454, JobGoneSeconds: 0.12, PodsCreatedSeconds: 2.31},
			want: "cascade: Background delete of 100 pods: pods gone in 1.45 s, job gone in 0.12 s, pods created in 2.31 s",
		},
		"cascade after all pods ran": {
			res:  CascadeResult{Propagation: "Foreground", Pods: 10, PodsGoneSeconds: 0.9, JobGoneSeconds: 0.91, PodsCreatedSeconds: 0.5, PodsRunningSeconds: 1.2},
			want: "cascade: Foreground delete of 10 pods: pods gone in 0.90 s, job gone in 0.91 s, pods created in 0.50 s, all running in 1.20 s",
		},
		"cascade orphan": {
			res:  CascadeResult{Propagation: "Orphan", Pods: 3, PodsGoneSeconds: 0.5, JobGoneSeconds: 0.1, PodsCreatedSeconds: 1},
			want: "cascade: Orphan delete of 3 pods: pods orphaned in 0.50 s, job gone in 0.10 s, pods created in 1.00 s",
		},
		"lifecycle": {
			res: LifecycleResult{JobsPerSecond: 12.34, PodsPerSecond: 123.4, Completion: LatencySummary{P50Ms: 812, P99Ms: 1530},
				Completed: 10, Jobs: 10},
			want: "lifecycle: 12.3 jobs/s, 123.4 pods/s, complete p50 812.0 ms, p99 1530.0 ms, 10/10 jobs complete",
		},
		"watch": {
			res:  WatchResult{Delivery: LatencySummary{P50Ms: 1.24, P99Ms: 5.3}, Watchers: 10, Events: 1000},
			want: "watch: delivery p50 1.2 ms, p99 5.3 ms, 10 watchers x 1000 events, 0 lost, 0 out-of-order, 0 duplicate",
		},
		"list": {
			res: ListResult{Objects: 10000, Kind: "configmap", PageSize: 500, Full: LatencySummary{P50Ms: 85.31, P99Ms: 90},
				Paginated: LatencySummary{P50Ms: 120.1, P99Ms: 130}},
			want: "list: 10000 configmaps, full list p50 85.3 ms, p99 90.0 ms, paginated (500/page) p50 120.1 ms, p99 130.0 ms, 0 errors",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.res.Summary(); got != tc.want {
				t.Errorf("Summary()\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
