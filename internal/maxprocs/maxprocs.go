// Package maxprocs sets how many OS threads run `skiff serve`'s goroutines at
// once (GOMAXPROCS).
//
// Go's default is one per CPU, right for a process that computes. An API
// server on embedded etcd mostly waits: each write waits for etcd's WAL
// fsync, which keeps a thread in the kernel for a few hundred microseconds
// well over a thousand times a second under load, and each request hands
// off between half a dozen goroutines that wake together when a batch of
// writes commits. With one thread per CPU a woken goroutine often waits for
// a thread while the CPUs are not both busy; with two per CPU the kernel
// runs it on whichever CPU is free. Measured on two CPUs in interleaved runs
// (docs/benchmarks.md): more requests per second in the crud scenario, more
// Jobs per second in the lifecycle one and faster cascades, for more CPU
// time spent spinning.
//
// A process whose CPUs a cgroup quota limits keeps Go's default, which
// follows the quota: more threads than the quota would get it throttled.
// GOMAXPROCS from the environment always wins.
package maxprocs

import (
	"os"
	"runtime"
)

// ThreadsPerCPU is the factor Apply uses.
const ThreadsPerCPU = 2

// Apply raises GOMAXPROCS to ThreadsPerCPU per CPU unless the environment
// sets GOMAXPROCS or a CPU quota already lowered it, and returns the value
// set (0: left as it was).
func Apply() int {
	n := choose(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0), runtime.NumCPU())
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return n
}

// choose decides from the environment's GOMAXPROCS, the runtime's current
// setting and the CPUs the process may run on; 0 means leave it alone.
func choose(env string, current, cpus int) int {
	if env != "" || current < cpus {
		return 0
	}
	return ThreadsPerCPU * current
}
