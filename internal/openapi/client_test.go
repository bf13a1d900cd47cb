package openapi

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/rest"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
)

// newOpenAPIClient is the OpenAPI v3 client kubectl builds from its
// discovery client, pointed at the documents served over HTTP.
func newOpenAPIClient(t *testing.T) (openapi.Client, *rest.Config) {
	t.Helper()
	srv := newTestServer(t, newTestService(t))
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc.OpenAPIV3(), cfg
}

func TestService_KubectlExplain_JobSpecBackoffLimit(t *testing.T) {
	t.Parallel()
	client, _ := newOpenAPIClient(t)
	var out bytes.Buffer
	gvr := schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	if err := explainv2.PrintModelDescription([]string{"spec", "backoffLimit"}, &out, client, gvr, false, 0, "plaintext"); err != nil {
		t.Fatalf("explain job.spec.backoffLimit: %v", err)
	}
	for _, want := range []string{"GROUP:      batch", "KIND:       Job", "VERSION:    v1", "FIELD: backoffLimit <integer>", backoffLimitDoc} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestService_QueryParamVerifierV3_FieldValidation(t *testing.T) {
	t.Parallel()
	client, cfg := newOpenAPIClient(t)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier := resource.NewQueryParamVerifierV3(dyn, client, resource.QueryParamFieldValidation)
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "batch", Version: "v1", Kind: "Job"},
		{Version: "v1", Kind: "Pod"},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
	} {
		if err := verifier.HasSupport(gvk); err != nil {
			t.Errorf("fieldValidation support for %v: %v", gvk, err)
		}
	}
}
