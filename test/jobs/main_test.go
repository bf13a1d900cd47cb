package jobs

import (
	"os"
	"testing"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// TestMain lets the process runtime re-execute this test binary as its
// container init helper.
func TestMain(m *testing.M) {
	crt.MaybeRunInit()
	os.Exit(m.Run())
}
