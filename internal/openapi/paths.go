package openapi

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
)

// Media types Skiff serves, as kube-apiserver lists them on operations.
var (
	mediaTypes       = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	streamMediaTypes = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	allMediaTypes    = append(append([]string{}, mediaTypes...), streamMediaTypes...)
	anyMediaType     = []string{"*/*"}
)

// Upstream request verbs (k8s.io/apiserver/pkg/endpoints/request), which are
// also the x-kubernetes-action values once lower-cased.
const (
	actionGet              = "GET"
	actionList             = "LIST"
	actionWatch            = "WATCH"
	actionWatchList        = "WATCHLIST"
	actionPost             = "POST"
	actionPut              = "PUT"
	actionPatch            = "PATCH"
	actionDelete           = "DELETE"
	actionDeleteCollection = "DELETECOLLECTION"
	actionConnect          = "CONNECT"
)

// connectMethods are the HTTP methods of the pods' streaming subresources
// (upstream's upgradeableMethods: GET for WebSockets, POST for SPDY).
var connectMethods = []string{http.MethodGet, http.MethodPost}

// endpoint is one action of a resource at one path, before it becomes a route.
type endpoint struct {
	action        string
	method        string // of a connect action
	path          string
	pathParams    []param
	allNamespaces bool
	sub           *Subresource
}

// kinds carries the models of a resource (or subresource) endpoint.
type kinds struct {
	parent string                  // the resource's kind, used in docs and operation names
	gvk    schema.GroupVersionKind // x-kubernetes-group-version-kind of the operations
	object model                   // the object read and written
	list   model                   // the list kind; empty for subresources
	// watchable says the resource supports watch (list docs mention it).
	watchable bool
	// deleted is what delete answers with: Status or the object.
	deleted interface{}
}

// pathBuilder turns Resources into routes. Its fields are read-only after
// construction.
type pathBuilder struct {
	options    *optionParams
	modelName  func(schema.GroupVersionKind) (string, error)
	patchTypes []string
}

// resourceRoutes builds the routes of r and its subresources in the order
// kube-apiserver's installer registers them.
func (b *pathBuilder) resourceRoutes(r Resource) ([]common.Route, error) {
	k, err := b.resourceKinds(r)
	if err != nil {
		return nil, err
	}
	var routes []common.Route
	for _, e := range resourceEndpoints(r) {
		rt, err := b.route(k, e)
		if err != nil {
			return nil, err
		}
		routes = append(routes, rt)
	}
	for i := range r.Subresources {
		sub := &r.Subresources[i]
		sk, err := b.subresourceKinds(r, *sub)
		if err != nil {
			return nil, err
		}
		for _, e := range subresourceEndpoints(r, sub) {
			rt, err := b.route(sk, e)
			if err != nil {
				return nil, err
			}
			routes = append(routes, rt)
		}
	}
	return routes, nil
}

func (b *pathBuilder) resourceKinds(r Resource) (kinds, error) {
	gvk := r.groupVersion().WithKind(r.Kind)
	obj, err := b.modelName(gvk)
	if err != nil {
		return kinds{}, fmt.Errorf("resource %q: %w", r.Resource, err)
	}
	k := kinds{parent: r.Kind, gvk: gvk, object: model(obj), watchable: r.has("watch"), deleted: metav1.Status{}}
	if r.DeleteReturnsObject {
		k.deleted = k.object
	}
	if r.ListKind != "" {
		list, err := b.modelName(r.groupVersion().WithKind(r.ListKind))
		if err != nil {
			return kinds{}, fmt.Errorf("resource %q: %w", r.Resource, err)
		}
		k.list = model(list)
	}
	return k, nil
}

func (b *pathBuilder) subresourceKinds(r Resource, s Subresource) (kinds, error) {
	gvk := s.gvk(r)
	obj, err := b.modelName(gvk)
	if err != nil {
		return kinds{}, fmt.Errorf("subresource %s/%s: %w", r.Resource, s.Name, err)
	}
	return kinds{parent: r.Kind, gvk: gvk, object: model(obj), deleted: metav1.Status{}}, nil
}

// rootPath is the web service path of a group version: /api/v1, /apis/batch/v1.
func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// resourceEndpoints lists the actions at the collection, item, watch and
// all-namespaces paths, as the installer does for the resource's verbs.
func resourceEndpoints(r Resource) []endpoint {
	root := rootPath(r.groupVersion())
	collection := r.Resource
	var scope []param
	if r.Namespaced {
		collection = "namespaces/{namespace}/" + r.Resource
		scope = []param{namespaceParam()}
	}
	item := collection + "/{name}"
	itemParams := append(append([]param{}, scope...), nameParam(r.Kind))
	watchList := r.has("watch") && r.has("list")

	var out []endpoint
	add := func(ok bool, action, path string, params []param, all bool) {
		if ok {
			out = append(out, endpoint{action: action, path: root + "/" + path, pathParams: params, allNamespaces: all})
		}
	}
	add(r.has("list"), actionList, collection, scope, false)
	add(r.has("create"), actionPost, collection, scope, false)
	add(r.has("deletecollection"), actionDeleteCollection, collection, scope, false)
	add(watchList, actionWatchList, "watch/"+collection, scope, false)
	add(r.has("get"), actionGet, item, itemParams, false)
	add(r.has("update"), actionPut, item, itemParams, false)
	add(r.has("patch"), actionPatch, item, itemParams, false)
	add(r.has("delete"), actionDelete, item, itemParams, false)
	add(r.has("watch"), actionWatch, "watch/"+item, itemParams, false)
	add(r.Namespaced && r.has("list"), actionList, r.Resource, nil, true)
	add(r.Namespaced && watchList, actionWatchList, "watch/"+r.Resource, nil, true)
	return out
}

// subresourceEndpoints lists the actions at the subresource path.
func subresourceEndpoints(r Resource, s *Subresource) []endpoint {
	path := rootPath(r.groupVersion()) + "/" + r.Resource + "/{name}/" + s.Name
	var params []param
	if r.Namespaced {
		path = rootPath(r.groupVersion()) + "/namespaces/{namespace}/" + r.Resource + "/{name}/" + s.Name
		params = append(params, namespaceParam())
	}
	params = append(params, nameParam(s.gvk(r).Kind))
	if s.Connect != nil {
		var out []endpoint
		for _, m := range connectMethods {
			out = append(out, endpoint{action: actionConnect, method: m, path: path, pathParams: params, sub: s})
		}
		return out
	}
	actions := map[string]string{"create": actionPost, "get": actionGet, "update": actionPut, "patch": actionPatch, "delete": actionDelete}
	var out []endpoint
	for _, verb := range []string{"create", "get", "update", "patch", "delete"} {
		for _, v := range s.Verbs {
			if v == verb {
				out = append(out, endpoint{action: actions[verb], path: path, pathParams: params, sub: s})
			}
		}
	}
	return out
}

// route renders one endpoint into the route kube-apiserver would register.
func (b *pathBuilder) route(k kinds, e endpoint) (*route, error) {
	rt := &route{
		path:     e.path,
		consumes: anyMediaType,
		produces: mediaTypes,
		metadata: map[string]interface{}{
			extensionGVK:          metav1.GroupVersionKind{Group: k.gvk.Group, Version: k.gvk.Version, Kind: k.gvk.Kind},
			"x-kubernetes-action": strings.ToLower(e.action),
		},
		params: append([]param(nil), e.pathParams...),
	}
	if e.action != actionConnect {
		rt.params = append(rt.params, prettyParam())
	}
	subName, subTitle := "", ""
	if e.sub != nil {
		subName, subTitle = e.sub.Name, title(e.sub.Name)
	}
	namespaced := ""
	if len(e.pathParams) > 0 && e.pathParams[0].name == "namespace" {
		namespaced = "Namespaced"
	}
	opKind := namespaced + k.parent + subTitle
	if e.action == actionWatchList {
		opKind += "List"
	}
	if e.allNamespaces {
		opKind += "ForAllNamespaces"
	}
	if e.action == actionConnect {
		return rt, fillConnect(rt, k, e, opKind)
	}
	if err := b.fill(rt, k, e.action, opKind, subName); err != nil {
		return nil, err
	}
	return rt, nil
}

// fillConnect describes a connect operation as the installer does: any
// media type both ways, the options' fields as query parameters, a string
// response ("connectGetNamespacedPodExec", "connect GET requests to exec
// of Pod").
func fillConnect(rt *route, k kinds, e endpoint, opKind string) error {
	params, err := queryParams(e.sub.Connect)
	if err != nil {
		return err
	}
	rt.method, rt.operation = e.method, "connect"+title(strings.ToLower(e.method))+opKind
	rt.description = "connect " + e.method + " requests to " + e.sub.Name + " of " + k.parent
	rt.produces, rt.writes = anyMediaType, stringModel
	rt.params = append(rt.params, params...)
	rt.responses = []response{ok(stringModel)}
	return nil
}

// title upper-cases the first letter: "status" -> "Status".
func title(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// article returns " a ", " an " or " " (plurals) before a kind in docs,
// like the installer's GetArticleForNoun.
func article(noun string) string {
	if !strings.HasSuffix(noun, "ss") && strings.HasSuffix(noun, "s") {
		return " "
	}
	if noun != "" && strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return " an "
	}
	return " a "
}

func ok(m interface{}) response { return response{code: http.StatusOK, message: "OK", model: m} }
func created(m interface{}) response {
	return response{code: http.StatusCreated, message: "Created", model: m}
}
func accepted(m interface{}) response {
	return response{code: http.StatusAccepted, message: "Accepted", model: m}
}
