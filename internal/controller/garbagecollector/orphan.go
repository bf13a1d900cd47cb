package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// orphanConcurrency bounds the parallel patches sent while orphaning the
// dependents of one owner.
const orphanConcurrency = 32

// orphanOwner removes owner's reference from each of its dependents, then the
// orphan finalizer from owner.
func (c *Controller) orphanOwner(ctx context.Context, owner *node) error {
	deps := owner.getDependents()
	if err := c.orphanDependents(ctx, owner, deps); err != nil {
		return err
	}
	c.log.Debug("dependents orphaned, removing finalizer", "owner", owner.identity.String(),
		"dependents", len(deps), "finalizer", metav1.FinalizerOrphanDependents)
	return c.removeFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// orphanDependents strategic-merge-patches every dependent to delete its
// reference to owner. Dependents that are gone are skipped.
func (c *Controller) orphanDependents(ctx context.Context, owner *node, deps []*node) error {
	ref := []metav1.OwnerReference{{UID: owner.identity.UID}}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs, appended from the patch goroutines
		errs []error
	)
	sem := make(chan struct{}, orphanConcurrency)
	for _, dep := range deps {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return context.Cause(ctx)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.removeOwnerReferences(ctx, dep, ref); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("orphaning dependents of %s: %w", owner.identity, errors.Join(errs...))
	}
	return nil
}
