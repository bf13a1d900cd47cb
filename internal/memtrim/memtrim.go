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
	"log/slog"
	"runtime/debug"
)

// AfterStart returns freed heap memory to the operating system and, where
// the kernel supports it, pages out the executable's read-only mappings and
// turns off read-ahead on them, so that only code that runs again comes back
// (in small pages). Call it once start-up is over. It never fails: what the
// host does not allow is logged at debug level and skipped.
func AfterStart(logger *slog.Logger) {
	debug.FreeOSMemory()
	n, err := pageOutExecutable()
	if err != nil {
		logger.Debug("paging out the executable's start-up pages", "err", err)
		return
	}
	logger.Debug("paged out the executable's start-up pages", "mappings", n)
}
