// Package openapi builds and serves the OpenAPI v2 (/openapi/v2) and v3
// (/openapi/v3, /openapi/v3/<group-version path>) documents of the resources
// Skiff serves, as kube-apiserver publishes them, so that kubectl's
// server-side field validation check (cli-runtime's QueryParamVerifierV3)
// and `kubectl explain` work unmodified.
//
// Schema definitions come from zz_generated.openapi.go, produced by
// kube-openapi's openapi-gen over the k8s.io/api and k8s.io/apimachinery
// types (regenerate with hack/update-openapi.sh). Paths are rendered from a
// []Resource description through kube-openapi's builders, with the
// operation IDs, parameters, x-kubernetes-action and
// x-kubernetes-group-version-kind extensions of kube-apiserver's installer.
// Every document is built and encoded (JSON, protobuf, gzip) once, in New.
//
// Usage:
//
//	svc, err := openapi.New([]openapi.Resource{{
//		Group: "batch", Version: "v1", Kind: "Job", ListKind: "JobList",
//		Resource: "jobs", Namespaced: true,
//		Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
//		Subresources: []openapi.Subresource{{Name: "status", Verbs: []string{"get", "patch", "update"}}},
//	}}, openapi.Options{Version: version.Info{GitVersion: "v1.37.2"}})
//	if err != nil {
//		return err
//	}
//	mux.HandleFunc("GET /openapi/v2", svc.ServeV2)
//	mux.HandleFunc("GET /openapi/v3", svc.ServeV3)
//	mux.HandleFunc("GET /openapi/v3/", svc.ServeV3)
package openapi
