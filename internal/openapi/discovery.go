package openapi

import (
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
)

// discoveryRoute is a GET route of the discovery and version endpoints,
// which kube-apiserver documents in their own web services.
func discoveryRoute(path, operation, description string, produces []string, writes interface{}) *route {
	return &route{
		method:      http.MethodGet,
		path:        path,
		operation:   operation,
		description: description,
		consumes:    produces,
		produces:    produces,
		writes:      writes,
	}
}

// discoveryContainers returns the web services of /api, /apis, /apis/<group>
// and /version, plus the discovery route each group version's own web
// service carries (keyed by group version).
func discoveryContainers(gvs []schema.GroupVersion) ([]*container, map[schema.GroupVersion]*route) {
	containers := []*container{
		{root: "/api", routes: []common.Route{discoveryRoute("/api/", "getAPIVersions", "get available API versions", mediaTypes, metav1.APIVersions{})}},
		{root: "/apis", routes: []common.Route{discoveryRoute("/apis/", "getAPIVersions", "get available API versions", mediaTypes, metav1.APIGroupList{})}},
		{root: "/version", routes: []common.Route{discoveryRoute("/version/", "getCodeVersion", "get the version information for this server", []string{"application/json"}, version.Info{})}},
	}
	perGV := map[schema.GroupVersion]*route{}
	groups := map[string]bool{}
	for _, gv := range gvs {
		perGV[gv] = discoveryRoute(rootPath(gv)+"/", "getAPIResources", "get available resources", mediaTypes, metav1.APIResourceList{})
		if gv.Group != "" && !groups[gv.Group] {
			groups[gv.Group] = true
			root := "/apis/" + gv.Group
			containers = append(containers, &container{root: root, routes: []common.Route{
				discoveryRoute(root+"/", "getAPIGroup", "get information of a group", mediaTypes, metav1.APIGroup{}),
			}})
		}
	}
	return containers, perGV
}

// verbs are the operation-name prefixes kube-apiserver knows; the group and
// version are spliced in after them.
var verbs = util.NewTrie([]string{"get", "log", "read", "replace", "patch", "delete", "deletecollection", "watch", "connect", "proxy", "list", "create"})

// operationIDAndTags derives operation IDs and tags the way kube-apiserver's
// GetOperationIDAndTags does: "deleteNamespacedJob" at /apis/batch/v1/...
// becomes "deleteBatchV1NamespacedJob" tagged "batch_v1".
func operationIDAndTags(r common.Route) (string, []string, error) {
	op := r.OperationName()
	prefix, found := verbs.GetPrefix(op)
	if !found {
		return op, nil, fmt.Errorf("operation names should start with a verb. Cannot determine operation verb from %v", op)
	}
	op = op[len(prefix):]
	parts := strings.Split(strings.Trim(r.Path(), "/"), "/")
	if len(parts) >= 1 && parts[0] == "api" {
		parts = append([]string{"apis", "core"}, parts[1:]...)
	}
	var tags []string
	switch {
	case len(parts) >= 2 && parts[0] == "apis":
		group := strings.TrimSuffix(parts[1], ".k8s.io")
		prefix += openapi.ToValidOperationID(group, prefix != "")
		tag := openapi.ToValidOperationID(group, false)
		if len(parts) > 2 {
			prefix += openapi.ToValidOperationID(parts[2], prefix != "")
			tag += "_" + openapi.ToValidOperationID(parts[2], false)
		}
		tags = append(tags, tag)
	case len(parts) >= 1:
		tags = append(tags, openapi.ToValidOperationID(parts[0], false))
	}
	return prefix + openapi.ToValidOperationID(op, prefix != ""), tags, nil
}
