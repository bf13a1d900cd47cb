package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

// DefaultPurgeInterval is how often RunPurge looks for expired tokens.
const DefaultPurgeInterval = time.Minute

// PurgeExpired deletes every token that is past its expiry by the store's
// clock and returns how many it deleted. A token changed or revoked while
// the purge runs is left to that change; entries that do not decode are
// left alone (Revoke still ends them).
func (s *TokenStore) PurgeExpired(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	purged, start := 0, ""
	for {
		kvs, _, more, err := s.cfg.Storage.List(ctx, s.cfg.Prefix, start, 0, 500)
		if err != nil {
			return purged, fmt.Errorf("listing tokens: %w", err)
		}
		for _, kv := range kvs {
			var info TokenInfo
			if err := json.Unmarshal(kv.Value, &info); err != nil || !info.Expired(now) {
				continue
			}
			_, _, err := s.cfg.Storage.Delete(ctx, kv.Key, kv.Revision)
			switch {
			case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
				continue
			case err != nil:
				return purged, fmt.Errorf("purging token %s: %w", info.ID, err)
			}
			s.forget(info.Hash)
			purged++
		}
		if !more || len(kvs) == 0 {
			return purged, nil
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
}

// RunPurge purges expired tokens at once and then every interval
// (DefaultPurgeInterval if 0) until ctx ends. Failures are logged and
// retried at the next tick.
func (s *TokenStore) RunPurge(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		interval = DefaultPurgeInterval
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "token-purge")
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		n, err := s.PurgeExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("purging expired tokens", "err", err)
		case n > 0:
			logger.Info("purged expired tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
