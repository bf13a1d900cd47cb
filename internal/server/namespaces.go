package server

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/registry/namespace"
)

// systemNamespaces exist from the first start, as on any cluster.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// namespaceLifecycle is upstream's NamespaceLifecycle admission for creates:
// the namespace must exist and must not be terminating.
type namespaceLifecycle struct {
	store *generic.Store
}

func (n *namespaceLifecycle) AdmitCreate(ctx context.Context, gr schema.GroupResource, ns, name string) error {
	// The watch cache answers almost always; a namespace created a moment
	// ago may not be in it yet, so a miss is confirmed against etcd.
	obj, err := n.store.Get(ctx, "", ns, metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		obj, err = n.store.Get(ctx, "", ns, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	if nsObj, ok := obj.(*corev1.Namespace); ok && namespace.IsTerminating(nsObj) {
		err := apierrors.NewForbidden(gr, name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}

// namespaceDeleter is upstream's namespace REST Delete: the first DELETE
// only marks the namespace Terminating (the namespace controller empties it
// and finalizes it); once spec.finalizers is empty, it is deleted for real.
type namespaceDeleter struct {
	store *generic.Store
}

func (d *namespaceDeleter) Delete(ctx context.Context, _, name string, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := d.store.Get(ctx, "", name, metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options.Preconditions == nil {
		options.Preconditions = &metav1.Preconditions{}
	}
	if p := options.Preconditions; p.UID == nil {
		p.UID = &ns.UID
	} else if *p.UID != ns.UID {
		return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, ns.UID))
	}
	if p := options.Preconditions; p.ResourceVersion != nil && *p.ResourceVersion != ns.ResourceVersion {
		return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, ns.ResourceVersion))
	}
	if ns.DeletionTimestamp == nil {
		out, err := d.store.GuaranteedUpdate(ctx, "", name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
			return markTerminating(cur.(*corev1.Namespace)), nil
		}, len(options.DryRun) > 0)
		return out, false, err
	}
	if len(ns.Spec.Finalizers) != 0 {
		return ns, false, nil
	}
	return d.store.Delete(ctx, "", name, options)
}

// markTerminating sets phase Terminating and a deletionTimestamp, which no
// client update may do: hence the strategy-free GuaranteedUpdate.
func markTerminating(ns *corev1.Namespace) *corev1.Namespace {
	if ns.DeletionTimestamp == nil {
		now := metav1.Now()
		ns.DeletionTimestamp = &now
	}
	ns.Status.Phase = corev1.NamespaceTerminating
	return ns
}

// AfterFinalize deletes a terminating namespace once its finalizers are gone.
func (d *namespaceDeleter) AfterFinalize(ctx context.Context, obj runtime.Object) error {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) != 0 {
		return nil
	}
	_, _, err := d.store.Delete(ctx, "", ns.Name, &metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ensureSystemNamespaces creates the namespaces every cluster has.
func ensureSystemNamespaces(ctx context.Context, store *generic.Store) error {
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		store.Default(ns)
		_, err := store.Create(ctx, "", ns, generic.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	return nil
}
