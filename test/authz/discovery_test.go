package authz_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/kubectl/pkg/cmd/apiresources"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// The review resources are in discovery as upstream lists them (what
// `kubectl api-resources` prints), in both the aggregated and the legacy
// documents.
func TestDiscovery_ReviewResources(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	want := map[string][]metav1.APIResource{
		"authentication.k8s.io/v1": {
			{Name: "selfsubjectreviews", SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: []string{"create"}},
		},
		"authorization.k8s.io/v1": {
			{Name: "selfsubjectaccessreviews", SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: []string{"create"}},
			{Name: "selfsubjectrulesreviews", SingularName: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview", Verbs: []string{"create"}},
		},
	}
	aggregated, err := discovery.NewDiscoveryClientForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := aggregated.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]metav1.APIResource{}
	for _, l := range lists {
		if _, ok := want[l.GroupVersion]; ok {
			got[l.GroupVersion] = l.APIResources
		}
	}
	// The aggregated document carries group and version per resource.
	opt := cmp.FilterPath(func(p cmp.Path) bool {
		s := p.Last().String()
		return s == ".Group" || s == ".Version"
	}, cmp.Ignore())
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Errorf("aggregated discovery (-want +got):\n%s", diff)
	}
	legacy := discovery.NewDiscoveryClientForConfigOrDie(ts.Config).WithLegacy()
	for gv, resources := range want {
		l, err := legacy.ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(resources, l.APIResources); diff != "" {
			t.Errorf("legacy %s (-want +got):\n%s", gv, diff)
		}
	}
}

// Only create is served, and only at the cluster scope: other verbs on the
// collection are 405, while a named or namespaced path is 404 (no route is
// registered there), as upstream's routes are.
func TestDiscovery_ReviewRoutes(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	base := ts.URL() + "/apis/authorization.k8s.io/v1"
	admin := bearer(ts.AdminConfig().BearerToken)
	for name, tc := range map[string]struct {
		method, url string
		code        int
	}{
		"list":       {http.MethodGet, base + "/selfsubjectrulesreviews", http.StatusMethodNotAllowed},
		"namespaced": {http.MethodPost, base + "/namespaces/default/selfsubjectrulesreviews", http.StatusNotFound},
		"named get":  {http.MethodGet, base + "/selfsubjectaccessreviews/x", http.StatusNotFound},
		"named put":  {http.MethodPut, base + "/selfsubjectaccessreviews/x", http.StatusNotFound},
		"create":     {http.MethodPost, ts.URL() + "/apis/authentication.k8s.io/v1/selfsubjectreviews", http.StatusCreated},
	} {
		t.Run(name, func(t *testing.T) {
			body := ""
			if tc.method == http.MethodPost {
				body = `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
			}
			if got := doRequest(t, anonymousClient(t, ts), tc.method, tc.url, admin, "application/json", body); got.Code != tc.code {
				t.Errorf("%s %s: %+v, want %d", tc.method, tc.url, got, tc.code)
			}
		})
	}
}

// kubectl's own api-resources code lists the reviews as upstream's does.
func TestKubectlAPIResources_ListsReviews(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	f := kubectlFactory(t, ts.Config, "default")
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd := apiresources.NewCmdAPIResources(f, streams)
	cmd.SetArgs([]string{"--api-group=authorization.k8s.io"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`selfsubjectaccessreviews\s+authorization\.k8s\.io/v1\s+false\s+SelfSubjectAccessReview`,
		`selfsubjectrulesreviews\s+authorization\.k8s\.io/v1\s+false\s+SelfSubjectRulesReview`,
	} {
		if !regexp.MustCompile(`(?m)^` + line + `\s*$`).MatchString(out.String()) {
			t.Errorf("api-resources lacks /%s/:\n%s", line, out)
		}
	}
}
