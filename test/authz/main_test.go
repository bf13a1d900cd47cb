// Package authz_test checks authentication and authorization against the
// whole server (internal/testserver): the identity × verb matrix,
// pods/log with a running node agent, and the self-subject reviews.
package authz_test

import (
	"os"
	"testing"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// TestMain lets the process runtime re-execute this test binary as its
// container init helper (the pods/log test runs a real pod).
func TestMain(m *testing.M) {
	crt.MaybeRunInit()
	os.Exit(m.Run())
}
