// Package memtrim gives back memory that start-up needed and an idle
// server does not: the garbage of initialisation, and the pages of the
// executable that were read once (package init, OpenAPI generation).
//
// The second matters on recent Linux kernels, which read an executable into
// the page cache in large folios (up to 2 MiB) and map a whole folio on the
// first touch of any of its pages: touching a few functions makes megabytes
// of code resident. Skiff's one binary carries kubectl, etcd and client-go
// (over 90 MB of code and tables), so without this about 90 MiB of its idle
// resident set is code it is not running.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// trim returns freed heap memory to the operating system and, where
// the kernel supports it, pages out the executable's read-only mappings and
// turns off read-ahead on them, so that only code that runs again comes back
// (in small pages); WhenQuiet calls it once start-up is over. It never fails: what the
// host does not allow is logged at debug level and skipped.
func trim(logger *slog.Logger) {
	debug.FreeOSMemory()
	n, err := pageOutExecutable()
	if err != nil {
		logger.Debug("paging out the executable's start-up pages", "err", err)
		return
	}
	logger.Debug("paged out the executable's start-up pages", "mappings", n)
}

// quietRequests is how many requests in a second still count as idle: a
// server's own node heartbeats and controllers make a few.
const quietRequests = 10

// WhenQuiet trims at the first second in which the server
// received at most a few requests (requests returns the running count), or
// never if ctx ends first. Paging code out makes the code that runs next
// fault back in, so it waits for a lull rather than slow down the burst of
// work that often follows a start.
func WhenQuiet(ctx context.Context, logger *slog.Logger, requests func() uint64) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := requests()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n := requests()
		if n-last <= quietRequests {
			trim(logger)
			return
		}
		last = n
	}
}
