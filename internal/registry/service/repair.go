package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

// servicesKeyRoot is where the services store keeps its objects (the
// generic store's default key root for "services").
const servicesKeyRoot = "/services/"

// repairState remembers the orphan claims of the previous Repair pass.
type repairState struct {
	// mu serialises Repair passes: seen is only meaningful between two
	// consecutive passes.
	mu sync.Mutex
	// seen maps an orphan claim key to its revision when last seen.
	seen map[string]int64
}

// Run calls Repair every interval until ctx ends, as upstream's repair
// controllers do. Errors are logged and retried on the next tick.
func (a *Allocator) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := a.Repair(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.logger.Warn("service allocation repair failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Repair makes the claims match the stored Services: a Service's address
// without a claim is claimed again, and a claim no Service holds is
// released once it has been orphaned, unchanged, for two consecutive
// passes (a create in flight claims before it stores its Service; a dry-run
// create claims and never stores).
func (a *Allocator) Repair(ctx context.Context) error {
	a.repair.mu.Lock()
	defer a.repair.mu.Unlock()
	kvs, _, _, err := a.st.List(ctx, servicesKeyRoot, "", 0, 0)
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	live := map[string]string{} // claim key -> owner uid
	for _, kv := range kvs {
		svc, err := decodeService(kv.Value)
		if err != nil {
			a.logger.Error("repair: skipping undecodable service", "key", kv.Key, "err", err)
			continue
		}
		for _, key := range claimKeys(svc) {
			live[key] = string(svc.UID)
			if err := a.claim(ctx, key, string(svc.UID), errIPAllocated); errors.Is(err, errIPAllocated) {
				a.logger.Warn("repair: address held by two services", "key", key, "service", svc.Namespace+"/"+svc.Name)
			} else if err != nil {
				return err
			}
		}
	}
	seen := map[string]int64{}
	for _, root := range []string{ipClaimRoot, portClaimRoot} {
		claims, _, _, err := a.st.List(ctx, root, "", 0, 0)
		if err != nil {
			return fmt.Errorf("listing %s: %w", root, err)
		}
		for _, kv := range claims {
			if owner, ok := live[kv.Key]; ok && owner == string(kv.Value) {
				continue
			}
			if a.repair.seen[kv.Key] != kv.Revision {
				seen[kv.Key] = kv.Revision
				continue
			}
			_, _, err := a.st.Delete(ctx, kv.Key, kv.Revision)
			if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("releasing leaked %s: %w", kv.Key, err)
			}
			a.logger.Info("repair: released leaked claim", "key", strings.TrimPrefix(kv.Key, "/ranges/"), "owner", string(kv.Value))
		}
	}
	a.repair.seen = seen
	return nil
}
