package apiserver

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// servePprof serves the Go profiler at /debug/pprof/, as kube-apiserver
// does with --profiling (its default).
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}
