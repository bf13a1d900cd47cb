// Package growstack grows a goroutine's stack in one step, before the work
// that needs it.
//
// A goroutine starts with a small stack (8 KiB or the runtime's running
// average) that the runtime doubles, by copying it, each time a call would
// overflow it. An API request runs in a fresh goroutine (upstream's timeout
// filter starts one per request) and goes through decoding, validation,
// etcd and encoding some 16 - 32 KiB deep, so it used to grow its stack two
// or three times, each copy deeper than the one before: 8 % of the server's
// CPU under the crud benchmark. Growing once at the top of the goroutine,
// where the stack is shallow and cheap to copy, saves that. CockroachDB does
// the same for its RPC handlers (pkg/util/growstack).
package growstack

import "net/http"

// Size is the stack Grow reserves below its caller's frame.
const Size = 16 << 10

// Grow makes the runtime grow the calling goroutine's stack so that at least
// Size bytes are free below the caller's frame. Call it first thing in a
// goroutine that will run deep. It is written in assembly (growstack.s) so
// that its frame is reserved without being zeroed: a Go function would
// clear Size bytes on every call.
func Grow()

// Handler calls Grow, then next.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Grow()
		next.ServeHTTP(w, r)
	})
}
