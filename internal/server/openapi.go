package server

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/openapi"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// connectOptions are the options types of the streaming subresources, by
// the kind they are served with.
var connectOptions = map[string]interface{ SwaggerDoc() map[string]string }{
	"PodExecOptions":        &corev1.PodExecOptions{},
	"PodAttachOptions":      &corev1.PodAttachOptions{},
	"PodPortForwardOptions": &corev1.PodPortForwardOptions{},
}

// newOpenAPI describes the served resources to the OpenAPI builder, which
// builds the documents once, in the background.
func newOpenAPI(resources []*apiserver.Resource) *openapi.Deferred {
	var out []openapi.Resource
	for _, r := range resources {
		o := openapi.Resource{
			Group: r.GroupVersion.Group, Version: r.GroupVersion.Version, Kind: r.Kind, ListKind: r.ListKind,
			Resource: r.Name, Namespaced: r.Store.Namespaced(), Verbs: r.Verbs,
			DeleteReturnsObject: r.Name == "pods" && r.GroupVersion.Group == "",
		}
		for name, sub := range r.Subresources {
			s := openapi.Subresource{Name: name, Verbs: sub.Verbs, Connect: connectOptions[sub.Kind]}
			if sub.Kind != r.Kind {
				s.Kind = sub.Kind
			}
			if sub.GroupVersion != nil {
				s.Group, s.Version = sub.GroupVersion.Group, sub.GroupVersion.Version
			}
			o.Subresources = append(o.Subresources, s)
		}
		out = append(out, o)
	}
	// PatchTypes: kube-apiserver's (JSON, merge, strategic merge, apply YAML).
	return openapi.NewDeferred(out, openapi.Options{Version: Version, Scheme: scheme.Scheme})
}
