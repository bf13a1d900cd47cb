package apiserver

import (
	"context"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// Resource is one served resource: its discovery facts, its store, and its
// subresources.
type Resource struct {
	// GroupVersion the resource is served at (batch/v1).
	GroupVersion schema.GroupVersion
	// Name is the plural resource name ("jobs"); SingularName "job".
	Name, SingularName string
	// Kind and ListKind are the served kinds.
	Kind, ListKind string
	ShortNames     []string
	Categories     []string
	// Verbs served on the main resource, in discovery order.
	Verbs []string
	// Store serves the verbs.
	Store *generic.Store
	// Delete overrides Store.Delete (namespaces finalize before they go).
	Delete func(ctx context.Context, namespace, name string, options *metav1.DeleteOptions) (runtime.Object, bool, error)
	// DeleteWarning, if set, returns a Warning header for a delete or
	// deletecollection with these options ("" for none). It is added before
	// the object is looked up, as upstream's Job storage does.
	DeleteWarning func(options *metav1.DeleteOptions) string
	// Subresources by name ("status", "log", ...).
	Subresources map[string]*Subresource
	// Handler, if set, serves every verb of a resource that stores nothing
	// (the create-only review resources); Store then only gives the scope
	// and is never read or written. Discovery lists no storage version
	// hash for such a resource, as upstream.
	Handler SubresourceHandler
}

// Subresource is either a store-backed endpoint on the same objects with
// another strategy (status, finalize) or a custom handler (log, binding,
// eviction).
type Subresource struct {
	// Kind is the kind the subresource speaks (Job for status, Binding...).
	Kind string
	// GroupVersion of Kind when it is not the parent's (policy/v1 Eviction).
	GroupVersion *schema.GroupVersion
	// Verbs served, for discovery (get, update, patch, create).
	Verbs []string
	// Store, for store-backed subresources: get, update and patch go to it.
	Store *generic.Store
	// Handler, for custom subresources; it gets the parsed request.
	Handler SubresourceHandler
	// AfterUpdate, optional, runs after a successful update through Store
	// (namespaces/finalize removes a namespace whose finalizers are done).
	AfterUpdate func(ctx context.Context, obj runtime.Object) error
}

// SubresourceHandler serves a custom subresource. It returns an error to be
// written as a Status, or nil once it has written the response itself.
type SubresourceHandler interface {
	ServeSubresource(w http.ResponseWriter, r *http.Request, req *Request) error
}

// GroupVersionResource returns the resource's GVR.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Name)
}

func (r *Resource) namespaced() bool { return r.Store.Namespaced() }

func (r *Resource) has(verb string) bool {
	for _, v := range r.Verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// registry indexes resources by group, version and name.
type registry struct {
	byGVR  map[schema.GroupVersionResource]*Resource
	groups []groupInfo // discovery order
}

type groupInfo struct {
	name     string // "" for the legacy core group
	versions []string
	// resources per version, in registration order
	resources map[string][]*Resource
}

func newRegistry(resources []*Resource) *registry {
	reg := &registry{byGVR: map[schema.GroupVersionResource]*Resource{}}
	index := map[string]int{}
	for _, r := range resources {
		reg.byGVR[r.GroupVersionResource()] = r
		g := r.GroupVersion.Group
		i, ok := index[g]
		if !ok {
			i = len(reg.groups)
			index[g] = i
			reg.groups = append(reg.groups, groupInfo{name: g, resources: map[string][]*Resource{}})
		}
		gi := &reg.groups[i]
		if _, ok := gi.resources[r.GroupVersion.Version]; !ok {
			gi.versions = append(gi.versions, r.GroupVersion.Version)
		}
		gi.resources[r.GroupVersion.Version] = append(gi.resources[r.GroupVersion.Version], r)
	}
	return reg
}

func (reg *registry) group(name string) *groupInfo {
	for i := range reg.groups {
		if reg.groups[i].name == name {
			return &reg.groups[i]
		}
	}
	return nil
}
