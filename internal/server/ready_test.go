package server

import (
	"context"
	"testing"
)

// /readyz stays unready until Start has finished bootstrapping, whatever
// storage says.
func TestServer_Ready_WaitsForStart(t *testing.T) {
	s := &Server{}
	err := s.ready(context.Background())
	if err == nil || err.Error() != "poststarthook/skiff-bootstrap: not finished" {
		t.Fatalf("ready before Start finished: %v, want the post-start hook error", err)
	}
}
