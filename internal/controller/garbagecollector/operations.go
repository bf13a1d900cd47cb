package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
)

// resolved is an apiVersion/kind mapped to its resource and scope.
type resolved struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

func (c *Controller) resolve(apiVersion, kind string) (resolved, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resolved{}, fmt.Errorf("parsing apiVersion %q: %w", apiVersion, err)
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		return resolved{}, fmt.Errorf("mapping %s %s: %w", apiVersion, kind, err)
	}
	return resolved{gvr: mapping.Resource, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

func (c *Controller) resourceClient(res resolved, namespace string) metadata.ResourceInterface {
	if res.namespaced {
		return c.client.Resource(res.gvr).Namespace(namespace)
	}
	return c.client.Resource(res.gvr)
}

// cachedObject looks id up in the informer cache of its resource, if watched.
func (c *Controller) cachedObject(res resolved, id identity) (metav1.Object, bool) {
	m, ok := c.monitors[res.gvr]
	if !ok {
		return nil, false
	}
	var (
		obj any
		err error
	)
	if res.namespaced {
		obj, err = m.lister.ByNamespace(id.Namespace).Get(id.Name)
	} else {
		obj, err = m.lister.Get(id.Name)
	}
	if err != nil {
		return nil, false
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	return acc, true
}

func (c *Controller) liveGet(ctx context.Context, res resolved, namespace, name string) (metav1.Object, error) {
	return c.resourceClient(res, namespace).Get(ctx, name, metav1.GetOptions{})
}

// getObject returns the current metadata of id: from the informer cache when
// it holds the same uid (every write below carries a uid or resourceVersion
// precondition, so a stale copy cannot cause a wrong write), otherwise live.
func (c *Controller) getObject(ctx context.Context, id identity) (metav1.Object, error) {
	res, err := c.resolve(id.APIVersion, id.Kind)
	if err != nil {
		return nil, err
	}
	lookup := id
	if !res.namespaced {
		lookup.Namespace = ""
	}
	if obj, ok := c.cachedObject(res, lookup); ok && obj.GetUID() == id.UID {
		return obj, nil
	}
	return c.liveGet(ctx, res, lookup.Namespace, id.Name)
}

// deleteObject deletes id with preconditions {uid, resourceVersion}. If only
// the resourceVersion moved on and the ownerReferences are unchanged, it
// retries with the uid precondition alone. NotFound counts as success.
func (c *Controller) deleteObject(ctx context.Context, id identity, resourceVersion string, ownersAtRV []metav1.OwnerReference, policy metav1.DeletionPropagation) error {
	res, err := c.resolve(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	client := c.resourceClient(res, id.Namespace)
	uid := id.UID
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy}
	if resourceVersion != "" {
		opts.Preconditions.ResourceVersion = &resourceVersion
	}
	err = client.Delete(ctx, id.Name, opts)
	if apierrors.IsConflict(err) && resourceVersion != "" {
		live, getErr := c.newerThan(ctx, res, id, resourceVersion)
		switch {
		case apierrors.IsNotFound(getErr):
			return nil
		case getErr != nil:
			return fmt.Errorf("re-reading %s after a conflict: %w", id, getErr)
		}
		if live.GetUID() != uid || !equality.Semantic.DeepEqual(live.GetOwnerReferences(), ownersAtRV) {
			return fmt.Errorf("deleting %s: %w", id, err)
		}
		opts.Preconditions.ResourceVersion = nil
		err = client.Delete(ctx, id.Name, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", id, err)
	}
	return nil
}

// newerThan returns a copy of id newer than resourceVersion, for the
// owner check after a conflict: the informer's when it already has one
// (the write that caused the conflict usually reached it first), else live,
// as upstream reads it. Either is as fresh as the conflict it follows.
func (c *Controller) newerThan(ctx context.Context, res resolved, id identity, resourceVersion string) (metav1.Object, error) {
	lookup := id
	if !res.namespaced {
		lookup.Namespace = ""
	}
	if obj, ok := c.cachedObject(res, lookup); ok && obj.GetUID() == id.UID && revisionAfter(obj.GetResourceVersion(), resourceVersion) {
		return obj, nil
	}
	return c.liveGet(ctx, res, lookup.Namespace, id.Name)
}

// revisionAfter reports whether resourceVersion a is later than b. Skiff's
// resourceVersions are etcd revisions; anything else is never "after".
func revisionAfter(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}

// patchObject sends one patch to id.
func (c *Controller) patchObject(ctx context.Context, id identity, pt types.PatchType, patch []byte) error {
	res, err := c.resolve(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	_, err = c.resourceClient(res, id.Namespace).Patch(ctx, id.Name, pt, patch, metav1.PatchOptions{})
	return err
}

type refDeletePatch struct {
	Patch string    `json:"$patch"`
	UID   types.UID `json:"uid"`
}

type ownerRefsPatchMeta struct {
	OwnerReferences any       `json:"ownerReferences"`
	UID             types.UID `json:"uid"`
	ResourceVersion string    `json:"resourceVersion,omitempty"`
}

type metadataPatch[T any] struct {
	Metadata T `json:"metadata"`
}

// removeOwnerReferences deletes the references to refs' owners from item:
// a strategic-merge patch keyed by uid, or on 415 a JSON merge patch of the
// remaining references carrying resourceVersion.
func (c *Controller) removeOwnerReferences(ctx context.Context, item *node, refs []metav1.OwnerReference) error {
	drop := map[types.UID]bool{}
	deletes := make([]refDeletePatch, 0, len(refs))
	for _, ref := range refs {
		drop[ref.UID] = true
		deletes = append(deletes, refDeletePatch{Patch: "delete", UID: ref.UID})
	}
	smp, err := json.Marshal(metadataPatch[ownerRefsPatchMeta]{ownerRefsPatchMeta{OwnerReferences: deletes, UID: item.identity.UID}})
	if err != nil {
		return fmt.Errorf("encoding owner reference patch: %w", err)
	}
	return c.patchOwnerReferences(ctx, item, smp, func(current []metav1.OwnerReference) []metav1.OwnerReference {
		var keep []metav1.OwnerReference
		for _, ref := range current {
			if !drop[ref.UID] {
				keep = append(keep, ref)
			}
		}
		return keep
	})
}

// unblockOwnerReferences sets blockOwnerDeletion=false on item's references
// to refs' owners.
func (c *Controller) unblockOwnerReferences(ctx context.Context, item *node, refs []metav1.OwnerReference) error {
	unblock := map[types.UID]bool{}
	patched := make([]metav1.OwnerReference, 0, len(refs))
	for _, ref := range refs {
		unblock[ref.UID] = true
		f := false
		patched = append(patched, metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, BlockOwnerDeletion: &f})
	}
	smp, err := json.Marshal(metadataPatch[ownerRefsPatchMeta]{ownerRefsPatchMeta{OwnerReferences: patched, UID: item.identity.UID}})
	if err != nil {
		return fmt.Errorf("encoding unblock patch: %w", err)
	}
	return c.patchOwnerReferences(ctx, item, smp, func(current []metav1.OwnerReference) []metav1.OwnerReference {
		out := make([]metav1.OwnerReference, 0, len(current))
		for _, ref := range current {
			if unblock[ref.UID] {
				f := false
				ref.BlockOwnerDeletion = &f
			}
			out = append(out, ref)
		}
		return out
	})
}

// patchOwnerReferences sends smp; if the server answers 415 it falls back to a
// JSON merge patch of edit(current references) with resourceVersion, retried
// on conflict. NotFound counts as success.
func (c *Controller) patchOwnerReferences(ctx context.Context, item *node, smp []byte, edit func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	err := c.patchObject(ctx, item.identity, types.StrategicMergePatchType, smp)
	if apierrors.IsUnsupportedMediaType(err) {
		err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			return c.mergePatchOwnerReferences(ctx, item, edit)
		})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching ownerReferences of %s: %w", item.identity, err)
	}
	return nil
}

func (c *Controller) mergePatchOwnerReferences(ctx context.Context, item *node, edit func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	res, err := c.resolve(item.identity.APIVersion, item.identity.Kind)
	if err != nil {
		return err
	}
	live, err := c.liveGet(ctx, res, item.identity.Namespace, item.identity.Name)
	if err != nil {
		return err
	}
	if live.GetUID() != item.identity.UID {
		return apierrors.NewNotFound(res.gvr.GroupResource(), item.identity.Name)
	}
	patch, err := json.Marshal(metadataPatch[ownerRefsPatchMeta]{ownerRefsPatchMeta{
		OwnerReferences: edit(live.GetOwnerReferences()),
		UID:             item.identity.UID,
		ResourceVersion: live.GetResourceVersion(),
	}})
	if err != nil {
		return fmt.Errorf("encoding owner reference merge patch: %w", err)
	}
	return c.patchObject(ctx, item.identity, types.MergePatchType, patch)
}

type finalizersPatchMeta struct {
	ResourceVersion string   `json:"resourceVersion,omitempty"`
	Finalizers      []string `json:"finalizers"`
}

// removeFinalizer removes finalizer from the live object with a JSON merge
// patch carrying its resourceVersion (an optimistic lock), retrying on
// conflict. An object that is gone, or has another uid, needs nothing.
func (c *Controller) removeFinalizer(ctx context.Context, owner *node, finalizer string) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		res, err := c.resolve(owner.identity.APIVersion, owner.identity.Kind)
		if err != nil {
			return err
		}
		live, err := c.liveGet(ctx, res, owner.identity.Namespace, owner.identity.Name)
		if err != nil {
			return err
		}
		if live.GetUID() != owner.identity.UID {
			return nil
		}
		var rest []string
		found := false
		for _, f := range live.GetFinalizers() {
			if f == finalizer {
				found = true
				continue
			}
			rest = append(rest, f)
		}
		if !found {
			return nil
		}
		patch, err := json.Marshal(metadataPatch[finalizersPatchMeta]{finalizersPatchMeta{ResourceVersion: live.GetResourceVersion(), Finalizers: rest}})
		if err != nil {
			return fmt.Errorf("encoding finalizer patch: %w", err)
		}
		return c.patchObject(ctx, owner.identity, types.MergePatchType, patch)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer %s from %s: %w", finalizer, owner.identity, err)
	}
	return nil
}
