package openapi

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource describes one served resource, the input paths are built from.
type Resource struct {
	// Group is the API group; "" is the legacy core group served under /api.
	Group string
	// Version is the API version, e.g. "v1". Required.
	Version string
	// Kind is the object kind, e.g. "Job". Required; the scheme must know it.
	Kind string
	// ListKind is the list kind, e.g. "JobList". Required when Verbs holds
	// list, watch or deletecollection.
	ListKind string
	// Resource is the plural lower-case resource name, e.g. "jobs". Required.
	Resource string
	// Namespaced says whether objects live in namespaces.
	Namespaced bool
	// Verbs are the Kubernetes verbs the resource supports: get, list, watch,
	// create, update, patch, delete, deletecollection.
	Verbs []string
	// Subresources are the resource's subresources.
	Subresources []Subresource
	// DeleteReturnsObject says that delete answers with the deleted object
	// instead of a Status (pods, as upstream's ReturnDeletedObject).
	DeleteReturnsObject bool
}

// Subresource describes a subresource of a Resource.
type Subresource struct {
	// Name is the subresource path segment: status, log, binding, eviction,
	// finalize, scale...
	Name string
	// Group and Version are those of Kind when it belongs to another group
	// version than the parent (policy/v1 Eviction under pods, autoscaling/v1
	// Scale). Empty Version means the parent's group and version.
	Group, Version string
	// Kind is the kind of the object the subresource reads and writes
	// (Binding, Eviction, Scale). Empty means the parent's kind (status,
	// finalize, log).
	Kind string
	// Verbs are the verbs the subresource supports: get, create, update,
	// patch, delete.
	Verbs []string
	// Connect, for a streaming subresource (exec, attach, portforward), is
	// its options type (PodExecOptions...): its GET and POST become connect
	// operations whose query parameters are the type's fields, as
	// kube-apiserver registers a Connecter. Verbs is then not used.
	Connect interface{ SwaggerDoc() map[string]string }
}

// gvk returns the group/version/kind the subresource's operations carry.
func (s Subresource) gvk(parent Resource) schema.GroupVersionKind {
	gvk := schema.GroupVersionKind{Group: parent.Group, Version: parent.Version, Kind: s.Kind}
	if s.Version != "" {
		gvk.Group, gvk.Version = s.Group, s.Version
	}
	if gvk.Kind == "" {
		gvk.Kind = parent.Kind
	}
	return gvk
}

var (
	resourceVerbs    = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	subresourceVerbs = []string{"get", "create", "update", "patch", "delete"}
)

func (r Resource) groupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

func (r Resource) has(verb string) bool { return slices.Contains(r.Verbs, verb) }

// validate reports the first malformed field of r.
func (r Resource) validate() error {
	switch {
	case r.Version == "":
		return fmt.Errorf("resource %q: version is required", r.Resource)
	case r.Kind == "":
		return fmt.Errorf("resource %q: kind is required", r.Resource)
	case r.Resource == "":
		return fmt.Errorf("kind %q: resource name is required", r.Kind)
	}
	for _, v := range r.Verbs {
		if !slices.Contains(resourceVerbs, v) {
			return fmt.Errorf("resource %q: unsupported verb %q", r.Resource, v)
		}
	}
	if r.ListKind == "" && (r.has("list") || r.has("watch") || r.has("deletecollection")) {
		return fmt.Errorf("resource %q: listKind is required for list, watch and deletecollection", r.Resource)
	}
	for _, s := range r.Subresources {
		if s.Name == "" {
			return fmt.Errorf("resource %q: subresource name is required", r.Resource)
		}
		if s.Version == "" && s.Group != "" {
			return fmt.Errorf("subresource %s/%s: group %q needs a version", r.Resource, s.Name, s.Group)
		}
		for _, v := range s.Verbs {
			if !slices.Contains(subresourceVerbs, v) {
				return fmt.Errorf("subresource %s/%s: unsupported verb %q", r.Resource, s.Name, v)
			}
		}
	}
	return nil
}
