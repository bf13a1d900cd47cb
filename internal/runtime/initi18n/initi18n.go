// Package initi18n keeps kubectl's translations from loading in a container
// init helper or exec shim. The skiff binary links kubectl, whose packages call i18n.T in
// their variable initializers, so every process of the binary parses the
// embedded translation catalogue before main: about half of the ~80 ms a
// re-executed container init spends starting, for text it never prints.
//
// Import it for its side effect from the main package; its import path sorts
// before kubectl's, so Go initializes it as soon as the i18n package is ready
// and before any package that calls i18n.T.
package initi18n

import (
	"os"

	"k8s.io/kubectl/pkg/util/i18n"
)

// InitArg is the first argument of a re-executed container init, and
// ExecShimArg of the runtime's exec shim (the runtime's own constants are
// these).
const (
	InitArg     = "__skiff_container_init__"
	ExecShimArg = "__skiff_exec_shim__"
)

func init() {
	if len(os.Args) < 2 || (os.Args[1] != InitArg && os.Args[1] != ExecShimArg) {
		return // kubectl and the server keep the user's language
	}
	// Cannot fail here: no i18n.T has run yet (see the package comment).
	_ = i18n.SetLoadTranslationsFunc(func() error { return nil })
}
