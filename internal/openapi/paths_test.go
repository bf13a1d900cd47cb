package openapi

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/kube-openapi/pkg/spec3"
)

// operationIDs lists "METHOD path -> operationId (action)" for every
// operation of a v3 document.
func operationIDs(doc *spec3.OpenAPI) map[string]string {
	out := map[string]string{}
	for path, item := range doc.Paths.Paths {
		ops := map[string]*spec3.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete}
		for method, op := range ops {
			if op != nil {
				action, _ := op.Extensions.GetString("x-kubernetes-action")
				out[method+" "+path] = op.OperationId + " (" + action + ")"
			}
		}
	}
	return out
}

func TestService_ServeV3_BatchOperations(t *testing.T) {
	t.Parallel()
	doc := v3Doc(t, newTestService(t), "apis/batch/v1")
	want := map[string]string{
		"GET /apis/batch/v1/":                                            "getBatchV1APIResources ()",
		"GET /apis/batch/v1/jobs":                                        "listBatchV1JobForAllNamespaces (list)",
		"GET /apis/batch/v1/namespaces/{namespace}/jobs":                 "listBatchV1NamespacedJob (list)",
		"POST /apis/batch/v1/namespaces/{namespace}/jobs":                "createBatchV1NamespacedJob (post)",
		"DELETE /apis/batch/v1/namespaces/{namespace}/jobs":              "deleteBatchV1CollectionNamespacedJob (deletecollection)",
		"GET /apis/batch/v1/namespaces/{namespace}/jobs/{name}":          "readBatchV1NamespacedJob (get)",
		"PUT /apis/batch/v1/namespaces/{namespace}/jobs/{name}":          "replaceBatchV1NamespacedJob (put)",
		"PATCH /apis/batch/v1/namespaces/{namespace}/jobs/{name}":        "patchBatchV1NamespacedJob (patch)",
		"DELETE /apis/batch/v1/namespaces/{namespace}/jobs/{name}":       "deleteBatchV1NamespacedJob (delete)",
		"GET /apis/batch/v1/namespaces/{namespace}/jobs/{name}/status":   "readBatchV1NamespacedJobStatus (get)",
		"PUT /apis/batch/v1/namespaces/{namespace}/jobs/{name}/status":   "replaceBatchV1NamespacedJobStatus (put)",
		"PATCH /apis/batch/v1/namespaces/{namespace}/jobs/{name}/status": "patchBatchV1NamespacedJobStatus (patch)",
		"GET /apis/batch/v1/watch/jobs":                                  "watchBatchV1JobListForAllNamespaces (watchlist)",
		"GET /apis/batch/v1/watch/namespaces/{namespace}/jobs":           "watchBatchV1NamespacedJobList (watchlist)",
		"GET /apis/batch/v1/watch/namespaces/{namespace}/jobs/{name}":    "watchBatchV1NamespacedJob (watch)",
	}
	if diff := cmp.Diff(want, operationIDs(doc)); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

func TestService_ServeV3_CoreSubresourceOperations(t *testing.T) {
	t.Parallel()
	ops := operationIDs(v3Doc(t, newTestService(t), "api/v1"))
	want := map[string]string{
		"GET /api/v1/": "getCoreV1APIResources ()",
		"POST /api/v1/namespaces/{namespace}/pods/{name}/eviction": "createCoreV1NamespacedPodEviction (post)",
		"POST /api/v1/namespaces/{namespace}/pods/{name}/binding":  "createCoreV1NamespacedPodBinding (post)",
		"GET /api/v1/namespaces/{namespace}/pods/{name}/log":       "readCoreV1NamespacedPodLog (get)",
		"GET /api/v1/namespaces/{namespace}/pods/{name}/exec":      "connectCoreV1GetNamespacedPodExec (connect)",
		"POST /api/v1/namespaces/{namespace}/pods/{name}/exec":     "connectCoreV1PostNamespacedPodExec (connect)",
		"PUT /api/v1/namespaces/{name}/finalize":                   "replaceCoreV1NamespaceFinalize (put)",
		"GET /api/v1/nodes/{name}/status":                          "readCoreV1NodeStatus (get)",
		"DELETE /api/v1/nodes":                                     "deleteCoreV1CollectionNode (deletecollection)",
		"GET /api/v1/watch/nodes/{name}":                           "watchCoreV1Node (watch)",
		"GET /api/v1/namespaces":                                   "listCoreV1Namespace (list)",
		"GET /api/v1/pods":                                         "listCoreV1PodForAllNamespaces (list)",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = ops[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	if _, ok := ops["DELETE /api/v1/namespaces"]; ok {
		t.Error("namespaces publish deletecollection, which they do not support")
	}
}

// paramNames lists "in:name" of the operation's and path item's parameters.
func paramNames(item *spec3.Path, op *spec3.Operation) []string {
	var out []string
	for _, list := range [][]*spec3.Parameter{item.Parameters, op.Parameters} {
		for _, p := range list {
			out = append(out, p.In+":"+p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func TestService_ServeV3_JobItemParameters(t *testing.T) {
	t.Parallel()
	doc := v3Doc(t, newTestService(t), "apis/batch/v1")
	item := doc.Paths.Paths["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]
	if item == nil {
		t.Fatal("no job item path")
	}
	tests := map[string]struct {
		op   *spec3.Operation
		want []string
	}{
		"delete takes the delete options": {item.Delete, []string{
			"path:name", "path:namespace", "query:dryRun", "query:gracePeriodSeconds",
			"query:ignoreStoreReadErrorWithClusterBreakingPotential", "query:orphanDependents",
			"query:pretty", "query:propagationPolicy",
		}},
		"patch takes the patch options": {item.Patch, []string{
			"path:name", "path:namespace", "query:dryRun", "query:fieldManager", "query:fieldValidation",
			"query:force", "query:pretty",
		}},
		"put takes the update options": {item.Put, []string{
			"path:name", "path:namespace", "query:dryRun", "query:fieldManager", "query:fieldValidation", "query:pretty",
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.op == nil {
				t.Fatal("operation missing")
			}
			if diff := cmp.Diff(tc.want, paramNames(item, tc.op)); diff != "" {
				t.Errorf("parameters (-want +got):\n%s", diff)
			}
		})
	}
	gvk := map[string]interface{}{"group": "batch", "version": "v1", "kind": "Job"}
	if diff := cmp.Diff(gvk, item.Patch.Extensions[extensionGVK]); diff != "" {
		t.Errorf("patch GVK (-want +got):\n%s", diff)
	}
	if item.Delete.RequestBody == nil || item.Delete.RequestBody.Required {
		t.Error("delete body must be optional")
	}
	if _, ok := item.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
		t.Error("patch does not consume strategic merge patches")
	}
}

// A streaming subresource is a connect operation per method, as the
// installer registers a Connecter: its options' fields as query parameters
// (no pretty), any media type, a string answer and the options' kind.
func TestService_ServeV3_ConnectOperations(t *testing.T) {
	t.Parallel()
	doc := v3Doc(t, newTestService(t), "api/v1")
	for path, want := range map[string][]string{
		"/api/v1/namespaces/{namespace}/pods/{name}/exec": {"path:name", "path:namespace", "query:command", "query:container",
			"query:stderr", "query:stdin", "query:stdout", "query:tty"},
		"/api/v1/namespaces/{namespace}/pods/{name}/portforward": {"path:name", "path:namespace", "query:ports"},
	} {
		item := doc.Paths.Paths[path]
		if item == nil || item.Get == nil || item.Post == nil || item.Put != nil {
			t.Fatalf("%s: want GET and POST only, got %+v", path, item)
		}
		for method, op := range map[string]*spec3.Operation{"GET": item.Get, "POST": item.Post} {
			if diff := cmp.Diff(want, paramNames(item, op)); diff != "" {
				t.Errorf("%s %s parameters (-want +got):\n%s", method, path, diff)
			}
			if op.RequestBody != nil {
				t.Errorf("%s %s takes a body", method, path)
			}
			resp := op.Responses.StatusCodeResponses[200]
			if resp == nil || resp.Content["*/*"] == nil || resp.Content["*/*"].Schema == nil || !resp.Content["*/*"].Schema.Type.Contains("string") {
				t.Errorf("%s %s: want a string answer of any media type, got %+v", method, path, resp)
			}
		}
	}
	gvk := map[string]interface{}{"group": "", "version": "v1", "kind": "PodExecOptions"}
	if diff := cmp.Diff(gvk, doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"].Get.Extensions[extensionGVK]); diff != "" {
		t.Errorf("exec GVK (-want +got):\n%s", diff)
	}
	if got := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"].Post.Description; got != "connect POST requests to exec of Pod" {
		t.Errorf("description = %q", got)
	}
}

func TestService_ServeV3_EvictionCarriesPolicyGVK(t *testing.T) {
	t.Parallel()
	doc := v3Doc(t, newTestService(t), "api/v1")
	op := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"].Post
	want := map[string]interface{}{"group": "policy", "version": "v1", "kind": "Eviction"}
	if diff := cmp.Diff(want, op.Extensions[extensionGVK]); diff != "" {
		t.Errorf("eviction GVK (-want +got):\n%s", diff)
	}
	if got := op.RequestBody.Content["*/*"].Schema.Ref.String(); got != "#/components/schemas/io.k8s.api.policy.v1.Eviction" {
		t.Errorf("eviction body = %s", got)
	}
	del := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Delete
	if got := del.Responses.StatusCodeResponses[200].Content["application/json"].Schema.Ref.String(); got != "#/components/schemas/io.k8s.api.core.v1.Pod" {
		t.Errorf("pod delete answers %s, want the Pod", got)
	}
}
