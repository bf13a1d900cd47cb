package openapi

import (
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Documentation kube-apiserver appends to the deprecated watch operations.
const (
	watchDeprecation     = ". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
	watchListDeprecation = ". deprecated: use the 'watch' parameter with a list operation instead."
)

// fill sets method, operation name, docs, parameters, payloads and responses
// of rt for one action, following k8s.io/apiserver/pkg/endpoints/installer.go.
// opKind is the operation name without its verb ("NamespacedJobStatus").
func (b *pathBuilder) fill(rt *route, k kinds, action, opKind, sub string) error {
	kind := k.parent
	o := b.options
	doc := func(main, ofSub string) string {
		if sub != "" {
			return ofSub
		}
		return main
	}
	switch action {
	case actionGet:
		rt.method, rt.operation = http.MethodGet, "read"+opKind
		rt.description = doc("read the specified "+kind, "read "+sub+" of the specified "+kind)
		rt.writes = k.object
		if sub == "log" {
			// pods/log streams text; its options are PodLogOptions.
			rt.writes = stringModel
			rt.produces = append([]string{"text/plain"}, mediaTypes...)
			rt.params = append(rt.params, o.podLog...)
		}
		rt.responses = []response{ok(rt.writes)}
	case actionList:
		rt.method, rt.operation = http.MethodGet, "list"+opKind
		rt.description = "list objects of kind " + kind
		if k.watchable {
			rt.description = "list or watch objects of kind " + kind
		}
		rt.produces, rt.writes = allMediaTypes, k.list
		rt.params = append(rt.params, o.list...)
		rt.responses = []response{ok(k.list)}
	case actionPost:
		rt.method, rt.operation = http.MethodPost, "create"+opKind
		rt.description = doc("create"+article(kind)+kind, "create "+sub+" of"+article(kind)+kind)
		rt.reads, rt.writes = k.object, k.object
		rt.params = append(append(rt.params, bodyParam(true)), o.create...)
		rt.responses = []response{ok(k.object), created(k.object), accepted(k.object)}
	case actionPut:
		rt.method, rt.operation = http.MethodPut, "replace"+opKind
		rt.description = doc("replace the specified "+kind, "replace "+sub+" of the specified "+kind)
		rt.reads, rt.writes = k.object, k.object
		rt.params = append(append(rt.params, bodyParam(true)), o.update...)
		rt.responses = []response{ok(k.object), created(k.object)}
	case actionPatch:
		rt.method, rt.operation = http.MethodPatch, "patch"+opKind
		rt.description = doc("partially update the specified "+kind, "partially update "+sub+" of the specified "+kind)
		rt.consumes = b.patchTypes
		rt.reads, rt.writes = metav1.Patch{}, k.object
		rt.params = append(append(rt.params, bodyParam(true)), o.patch...)
		rt.responses = []response{ok(k.object), created(k.object)}
	default:
		return b.fillDeleteOrWatch(rt, k, action, opKind, sub)
	}
	return nil
}

func (b *pathBuilder) fillDeleteOrWatch(rt *route, k kinds, action, opKind, sub string) error {
	kind := k.parent
	o := b.options
	switch action {
	case actionDelete:
		rt.method, rt.operation = http.MethodDelete, "delete"+opKind
		rt.description = "delete" + article(kind) + kind
		if sub != "" {
			rt.description = "delete " + sub + " of" + article(kind) + kind
		}
		rt.reads, rt.writes = metav1.DeleteOptions{}, k.deleted
		rt.params = append(append(rt.params, bodyParam(false)), o.delete...)
		rt.responses = []response{ok(k.deleted), accepted(k.deleted)}
	case actionDeleteCollection:
		rt.method, rt.operation = http.MethodDelete, "deletecollection"+opKind
		rt.description = "delete collection of " + kind
		rt.reads, rt.writes = metav1.DeleteOptions{}, metav1.Status{}
		rt.params = append(append(rt.params, bodyParam(false)), o.delete...)
		rt.params = append(rt.params, without(o.list, "watch", "allowWatchBookmarks")...)
		rt.responses = []response{ok(metav1.Status{})}
	case actionWatch, actionWatchList:
		rt.method, rt.operation = http.MethodGet, "watch"+opKind
		rt.description = "watch changes to an object of kind " + kind + watchDeprecation
		if action == actionWatchList {
			rt.description = "watch individual changes to a list of " + kind + watchListDeprecation
		}
		rt.produces, rt.writes = allMediaTypes, metav1.WatchEvent{}
		rt.params = append(rt.params, o.list...)
		rt.responses = []response{ok(metav1.WatchEvent{})}
	default:
		return fmt.Errorf("unknown action %q", action)
	}
	return nil
}
