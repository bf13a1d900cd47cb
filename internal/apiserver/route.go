package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// Request is a resource request after routing.
type Request struct {
	Info     *request.RequestInfo
	Resource *Resource
	// Sub is the subresource, nil for the main resource.
	Sub       *Subresource
	Namespace string
	Name      string
}

// notFoundRoute is go-restful's answer for a path nothing is registered at.
func notFoundRoute() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
}

// methodNotAllowed is go-restful's answer for a known path with a method
// that is not registered there (no Allow header, as upstream).
func methodNotAllowed() error {
	return apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false)
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// route finds the resource and checks that the verb exists on that path.
func (s *Server) route(info *request.RequestInfo) (*Request, error) {
	gvr := schema.GroupVersionResource{Group: info.APIGroup, Version: info.APIVersion, Resource: info.Resource}
	res := s.reg.byGVR[gvr]
	if res == nil {
		return nil, notFoundRoute()
	}
	// A namespaced resource is reachable both under /namespaces/{ns}/ and
	// across namespaces (list, watch); a cluster-scoped one never under a
	// namespace.
	namespace := info.Namespace
	if gvr == namespacesGVR {
		// RequestInfo reports a namespace's own name as its namespace.
		namespace = ""
	}
	if !res.namespaced() && namespace != "" {
		return nil, notFoundRoute()
	}
	name := info.Name
	if (info.Verb == "list" || info.Verb == "watch" || info.Verb == "deletecollection") && len(info.Parts) < 2 {
		// RequestInfo copies a fieldSelector metadata.name=X into Name (for
		// authorization); the request is still a collection request.
		name = ""
	}
	req := &Request{Info: info, Resource: res, Namespace: namespace, Name: name}
	if info.Subresource != "" {
		sub := res.Subresources[info.Subresource]
		if sub == nil || info.Name == "" {
			return nil, notFoundRoute()
		}
		req.Sub = sub
		return req, checkSubresourceVerb(info.Verb, sub)
	}
	if res.namespaced() && namespace == "" && name != "" {
		return nil, notFoundRoute()
	}
	if res.namespaced() && namespace == "" && info.Verb != "list" && info.Verb != "watch" {
		// No cluster-wide create or deletecollection for namespaced kinds.
		return nil, methodNotAllowed()
	}
	return req, checkVerb(info.Verb, name != "", res)
}

func checkVerb(verb string, named bool, res *Resource) error {
	if named && !res.has("get") && !res.has("update") && !res.has("patch") && !res.has("delete") {
		// Create-only kinds (the reviews) register no item path upstream.
		return notFoundRoute()
	}
	ok := false
	switch verb {
	case "get", "update", "patch", "delete":
		ok = named
	case "list", "create", "deletecollection":
		ok = !named
	case "watch":
		ok = true
	}
	if !ok || !res.has(verb) {
		return methodNotAllowed()
	}
	return nil
}

func checkSubresourceVerb(verb string, sub *Subresource) error {
	for _, v := range sub.Verbs {
		if v == verb {
			return nil
		}
	}
	return methodNotAllowed()
}

// serveResource dispatches a routed request to its verb handler.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, req *Request) error {
	if req.Sub != nil && req.Sub.Handler != nil {
		return req.Sub.Handler.ServeSubresource(w, r, req)
	}
	if req.Sub == nil && req.Resource.Handler != nil {
		return req.Resource.Handler.ServeSubresource(w, r, req)
	}
	switch req.Info.Verb {
	case "get":
		return s.get(w, r, req)
	case "list":
		return s.list(w, r, req)
	case "watch":
		return s.watch(w, r, req)
	case "create":
		return s.create(w, r, req)
	case "update":
		return s.update(w, r, req)
	case "patch":
		return s.patch(w, r, req)
	case "delete":
		return s.delete(w, r, req)
	case "deletecollection":
		return s.deleteCollection(w, r, req)
	}
	return methodNotAllowed()
}
