package storage

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestShutdownNoiseFilter drops etcd's two known-harmless errors and keeps
// every other entry, including the same message with another error.
func TestShutdownNoiseFilter(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	lg := zap.New(shutdownNoiseFilter{core}).With(zap.String("member", "m1"))

	lg.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("use of closed network connection")))
	lg.Error("failed to update storage version", zap.String("cluster-version", "3.7.0"),
		zap.Error(errors.New("cannot detect storage schema version: missing term information")))
	lg.Error("failed to update storage version", zap.Error(errors.New("cannot create migration plan")))
	lg.Error("raft: something else", zap.Error(errors.New("boom")))
	lg.Info("failed to update storage version") // below the core's level

	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message+": "+e.ContextMap()["error"].(string))
	}
	want := []string{"failed to update storage version: cannot create migration plan", "raft: something else: boom"}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}
}
