package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
)

// sync processes one namespace. remaining reports content still going away.
func (c *Controller) sync(ctx context.Context, name string) (remaining bool, err error) {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace: %w", err)
	}
	if ns.DeletionTimestamp == nil {
		return false, nil
	}
	ns, err = c.ensureTerminating(ctx, ns)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return false, nil
	}
	totals := c.deleteContent(ctx, name)
	if err := c.updateConditions(ctx, ns, totals); err != nil && ctx.Err() == nil {
		c.log.Debug("updating namespace conditions", "namespace", name, "err", err)
	}
	if len(totals.errs) > 0 {
		return false, fmt.Errorf("deleting content of namespace %s: %w", name, errors.Join(totals.errs...))
	}
	if totals.remaining() {
		return true, nil
	}
	return false, c.finalize(ctx, ns)
}

// ensureTerminating sets phase Terminating if the server has not.
func (c *Controller) ensureTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	cp := ns.DeepCopy()
	cp.Status.Phase = corev1.NamespaceTerminating
	out, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("marking namespace terminating: %w", err)
	}
	return out, nil
}

// finalize removes the "kubernetes" finalizer through the finalize
// subresource, re-reading the namespace on conflict.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cp := ns.DeepCopy()
		cp.Spec.Finalizers = nil
		for _, f := range ns.Spec.Finalizers {
			if f != corev1.FinalizerKubernetes && !slices.Contains(cp.Spec.Finalizers, f) {
				cp.Spec.Finalizers = append(cp.Spec.Finalizers, f)
			}
		}
		slices.Sort(cp.Spec.Finalizers)
		_, err := c.client.CoreV1().Namespaces().Finalize(ctx, cp, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			latest, getErr := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if latest.UID != ns.UID {
				return apierrors.NewNotFound(corev1.Resource("namespaces"), ns.Name)
			}
			ns = latest
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalizing namespace %s: %w", ns.Name, err)
	}
	c.log.Debug("namespace finalized", "namespace", ns.Name)
	return nil
}

// contentTotals is what one pass over a namespace found.
type contentTotals struct {
	gvrRemaining        map[schema.GroupVersionResource]int
	finalizersRemaining map[string]int
	errs                []error
}

func (t *contentTotals) remaining() bool {
	for _, n := range t.gvrRemaining {
		if n > 0 {
			return true
		}
	}
	return false
}

// deleteContent deletes every configured resource in the namespace and counts
// what remains. While pods remain, nothing else is deleted.
func (c *Controller) deleteContent(ctx context.Context, ns string) *contentTotals {
	totals := &contentTotals{gvrRemaining: map[schema.GroupVersionResource]int{}, finalizersRemaining: map[string]int{}}
	for _, gvr := range c.resources {
		if err := c.deleteCollection(ctx, gvr, ns); err != nil {
			totals.errs = append(totals.errs, err)
			continue
		}
		n, err := c.countRemaining(ctx, gvr, ns, totals.finalizersRemaining)
		if err != nil {
			totals.errs = append(totals.errs, err)
			continue
		}
		totals.gvrRemaining[gvr] = n
		if gvr == podsResource && n > 0 {
			return totals
		}
	}
	return totals
}

// deleteCollection deletes everything of gvr in ns, with deletecollection or,
// where the server does not support it, item by item. Background
// propagation keeps the orphan finalizer from being added.
func (c *Controller) deleteCollection(ctx context.Context, gvr schema.GroupVersionResource, ns string) error {
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	client := c.metadata.Resource(gvr).Namespace(ns)
	if !c.unsupported.has(gvr) {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting collection of %s: %w", gvr.Resource, err)
		}
		c.unsupported.set(gvr)
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	for i := range list.Items {
		item := &list.Items[i]
		err := client.Delete(ctx, item.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s %s: %w", gvr.Resource, item.Name, err)
		}
	}
	return nil
}

// countRemaining lists gvr in ns, counting the items and, into finalizers,
// the finalizers they still carry.
func (c *Controller) countRemaining(ctx context.Context, gvr schema.GroupVersionResource, ns string, finalizers map[string]int) (int, error) {
	list, err := c.metadata.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	for _, item := range list.Items {
		for _, f := range item.Finalizers {
			finalizers[f]++
		}
	}
	return len(list.Items), nil
}

// opCache is a concurrency-safe set of resources.
type opCache struct {
	mu sync.RWMutex
	m  map[schema.GroupVersionResource]bool
}

func newOpCache() *opCache { return &opCache{m: map[schema.GroupVersionResource]bool{}} }

func (o *opCache) has(gvr schema.GroupVersionResource) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.m[gvr]
}

func (o *opCache) set(gvr schema.GroupVersionResource) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[gvr] = true
}
