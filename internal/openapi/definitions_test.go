package openapi

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func generatedDefinitions() map[string]bool {
	defs := GetOpenAPIDefinitions(func(name string) spec.Ref { return spec.MustCreateRef("#/definitions/" + name) })
	out := make(map[string]bool, len(defs))
	for name := range defs {
		out[name] = true
	}
	return out
}

func TestGetOpenAPIDefinitions_DependenciesAreDefined(t *testing.T) {
	t.Parallel()
	defs := GetOpenAPIDefinitions(func(name string) spec.Ref { return spec.MustCreateRef("#/definitions/" + name) })
	var missing []string
	for name, def := range defs {
		if strings.Contains(name, "/") {
			t.Errorf("definition %q is keyed by Go path, not by REST-friendly model name", name)
		}
		for _, dep := range def.Dependencies {
			if _, ok := defs[dep]; !ok {
				missing = append(missing, name+" -> "+dep)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("dependencies without a definition (add their package to hack/update-openapi.sh):\n%s", strings.Join(missing, "\n"))
	}
}

// missingKinds lists the kinds of s (internal versions aside) that have no
// generated definition.
func missingKinds(t *testing.T, s *runtime.Scheme) []string {
	t.Helper()
	defs := generatedDefinitions()
	var missing []string
	for gvk := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name, err := s.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			t.Fatalf("naming %v: %v", gvk, err)
		}
		if !defs[name] {
			missing = append(missing, gvk.String())
		}
	}
	sort.Strings(missing)
	return missing
}

func TestGetOpenAPIDefinitions_CoverServedKinds(t *testing.T) {
	t.Parallel()
	s, err := newDefaultScheme()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string(nil), missingKinds(t, s)); diff != "" {
		t.Errorf("kinds of the default scheme without definitions (-want +got):\n%s", diff)
	}
}

func TestNew_Errors(t *testing.T) {
	t.Parallel()
	job := Resource{Group: "batch", Version: "v1", Kind: "Job", ListKind: "JobList", Resource: "jobs", Namespaced: true, Verbs: []string{"get", "list"}}
	tests := map[string]struct {
		mutate  func(*Resource)
		wantErr string
	}{
		"unknown kind":      {func(r *Resource) { r.Kind = "Jobb" }, `no kind "Jobb" is registered`},
		"unknown list kind": {func(r *Resource) { r.ListKind = "Jobs" }, `no kind "Jobs" is registered`},
		"missing list kind": {func(r *Resource) { r.ListKind = "" }, `listKind is required`},
		"unknown verb":      {func(r *Resource) { r.Verbs = []string{"proxy"} }, `unsupported verb "proxy"`},
		"no version":        {func(r *Resource) { r.Version = "" }, `version is required`},
		"no resource name":  {func(r *Resource) { r.Resource = "" }, `resource name is required`},
		"subresource verb":  {func(r *Resource) { r.Subresources = []Subresource{{Name: "status", Verbs: []string{"list"}}} }, `unsupported verb "list"`},
		"subresource kind": {func(r *Resource) {
			r.Subresources = []Subresource{{Name: "scale", Group: "apps", Version: "v1", Kind: "Scale", Verbs: []string{"get"}}}
		}, `subresource jobs/scale`},
		"group sans version": {func(r *Resource) {
			r.Subresources = []Subresource{{Name: "x", Group: "policy", Verbs: []string{"get"}}}
		}, `needs a version`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := job
			tc.mutate(&r)
			_, err := New([]Resource{r}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
