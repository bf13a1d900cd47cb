package auth

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-sh/skiff/internal/storage"
)

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct{ now atomic.Pointer[time.Time] }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.now.Store(&start)
	return c
}

func (c *fakeClock) Now() time.Time { return *c.now.Load() }

func (c *fakeClock) Advance(d time.Duration) {
	next := c.Now().Add(d)
	c.now.Store(&next)
}

func newTestTokenStore(t *testing.T, clock *fakeClock) *TokenStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	etcd, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: t.TempDir(), CompactionRetention: -1})
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(etcd.Close)
	s, err := NewTokenStore(TokenStoreConfig{Storage: storage.NewEtcd(etcd.Client(), "/registry"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenIDs(t *testing.T, s *TokenStore) []string {
	t.Helper()
	list, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, info := range list {
		ids = append(ids, info.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	return slices.Sorted(slices.Values(ids))
}

func mustCreate(t *testing.T, s *TokenStore, ttl time.Duration) (string, string) {
	t.Helper()
	tok, info, err := s.Create(context.Background(), TokenRequest{User: "alice", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok, info.ID
}

func TestTokenStore_PurgeExpired_DeletesOnlyExpired(t *testing.T) {
	clock := newFakeClock()
	s := newTestTokenStore(t, clock)
	ctx := context.Background()
	_, hour := mustCreate(t, s, time.Hour)
	twoTok, twoHours := mustCreate(t, s, 2*time.Hour)
	_, forever := mustCreate(t, s, 0)

	for _, step := range []struct {
		advance time.Duration
		purged  int
		left    []string
	}{
		{0, 0, sorted(hour, twoHours, forever)},
		{time.Hour, 1, sorted(twoHours, forever)}, // expiry is inclusive
		{30 * time.Minute, 0, sorted(twoHours, forever)},
		{24 * time.Hour, 1, sorted(forever)},
	} {
		clock.Advance(step.advance)
		n, err := s.PurgeExpired(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != step.purged {
			t.Errorf("after %s: purged %d, want %d", step.advance, n, step.purged)
		}
		if diff := cmp.Diff(step.left, tokenIDs(t, s)); diff != "" {
			t.Errorf("after %s: tokens (-want +got):\n%s", step.advance, diff)
		}
	}
	if _, ok, err := s.AuthenticateToken(ctx, twoTok); ok || err != nil {
		t.Errorf("a purged token authenticates: %v %v", ok, err)
	}
}

func TestTokenStore_RunPurge_AtStartAndEachInterval(t *testing.T) {
	clock := newFakeClock()
	s := newTestTokenStore(t, clock)
	mustCreate(t, s, time.Minute)
	_, forever := mustCreate(t, s, 0)
	clock.Advance(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.RunPurge(ctx, 10*time.Millisecond, nil) }()
	waitForTokens(t, s, []string{forever})

	_, later := mustCreate(t, s, time.Hour)
	waitForTokens(t, s, sorted(forever, later))
	clock.Advance(2 * time.Hour)
	waitForTokens(t, s, []string{forever})

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunPurge did not return after its context ended")
	}
}

// waitForTokens polls until exactly want are stored.
func waitForTokens(t *testing.T, s *TokenStore, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := tokenIDs(t, s)
		if cmp.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokens %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
