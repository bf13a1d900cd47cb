package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// testService builds the documents of skiffResources once for all tests:
// building them is the expensive part and the Service is immutable.
var testService = sync.OnceValues(func() (*Service, error) {
	return New(skiffResources(), Options{Version: version.Info{GitVersion: "v1.37.2-skiff.1"}})
})

func newTestService(t *testing.T) *Service {
	t.Helper()
	s, err := testService()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// newTestServer serves s the way the integrator routes it.
func newTestServer(t *testing.T, s *Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/openapi/v2", s.ServeV2)
	mux.HandleFunc("/openapi/v3", s.ServeV3)
	mux.HandleFunc("/openapi/v3/", s.ServeV3)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, s *Service, serve func(*Service, http.ResponseWriter, *http.Request), target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	serve(s, w, req)
	return w
}

func v2Doc(t *testing.T, s *Service) *spec.Swagger {
	t.Helper()
	w := get(t, s, (*Service).ServeV2, "/openapi/v2", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v2: %d %s", w.Code, w.Body)
	}
	var sw spec.Swagger
	if err := json.Unmarshal(w.Body.Bytes(), &sw); err != nil {
		t.Fatalf("decoding v2: %v", err)
	}
	return &sw
}

func v3Doc(t *testing.T, s *Service, gv string) *spec3.OpenAPI {
	t.Helper()
	w := get(t, s, (*Service).ServeV3, "/openapi/v3/"+gv, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v3/%s: %d %s", gv, w.Code, w.Body)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decoding v3 %s: %v", gv, err)
	}
	return &doc
}

const backoffLimitDoc = "Specifies the number of retries before marking this job failed."

func TestService_ServeV2_JobSchema(t *testing.T) {
	t.Parallel()
	sw := v2Doc(t, newTestService(t))
	if diff := cmp.Diff(spec.InfoProps{Title: "Kubernetes", Version: "v1.37.2"}, sw.Info.InfoProps); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	job, ok := sw.Definitions["io.k8s.api.batch.v1.Job"]
	if !ok {
		t.Fatal("no io.k8s.api.batch.v1.Job definition")
	}
	wantGVK := []interface{}{map[string]interface{}{"group": "batch", "version": "v1", "kind": "Job"}}
	if diff := cmp.Diff(wantGVK, job.Extensions[extensionGVK]); diff != "" {
		t.Errorf("Job GVK extension (-want +got):\n%s", diff)
	}
	spec := sw.Definitions["io.k8s.api.batch.v1.JobSpec"]
	if got := spec.Properties["backoffLimit"].Description; !strings.Contains(got, backoffLimitDoc) {
		t.Errorf("backoffLimit description = %q, want it to contain %q", got, backoffLimitDoc)
	}
	for name, def := range sw.Definitions {
		if def.Default != nil {
			t.Errorf("v2 definition %s keeps a default; kube-apiserver prunes them", name)
		}
	}
}

func TestService_ServeV3_JobSchema(t *testing.T) {
	t.Parallel()
	doc := v3Doc(t, newTestService(t), "apis/batch/v1")
	spec := doc.Components.Schemas["io.k8s.api.batch.v1.JobSpec"]
	if spec == nil {
		t.Fatal("no io.k8s.api.batch.v1.JobSpec schema")
	}
	if got := spec.Properties["backoffLimit"].Description; !strings.Contains(got, backoffLimitDoc) {
		t.Errorf("backoffLimit description = %q, want it to contain %q", got, backoffLimitDoc)
	}
	// Cross-registered meta kinds list only this group version and core/v1.
	want := []interface{}{
		map[string]interface{}{"group": "", "version": "v1", "kind": "DeleteOptions"},
		map[string]interface{}{"group": "batch", "version": "v1", "kind": "DeleteOptions"},
	}
	got := doc.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"].Extensions[extensionGVK]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DeleteOptions GVKs (-want +got):\n%s", diff)
	}
}

func TestService_ServeV3_IndexListsEveryGroupVersion(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	w := get(t, s, (*Service).ServeV3, "/openapi/v3", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %d", w.Code)
	}
	var index v3Index
	if err := json.Unmarshal(w.Body.Bytes(), &index); err != nil {
		t.Fatal(err)
	}
	var got []string
	for name, entry := range index.Paths {
		got = append(got, name)
		if want := "/openapi/v3/" + name + "?hash=" + s.v3[name].etag; entry.ServerRelativeURL != want {
			t.Errorf("%s: serverRelativeURL = %q, want %q", name, entry.ServerRelativeURL, want)
		}
	}
	want := []string{
		"api", "api/v1", "apis",
		"apis/authentication.k8s.io", "apis/authentication.k8s.io/v1",
		"apis/authorization.k8s.io", "apis/authorization.k8s.io/v1",
		"apis/batch", "apis/batch/v1",
		"apis/coordination.k8s.io", "apis/coordination.k8s.io/v1",
		"apis/rbac.authorization.k8s.io", "apis/rbac.authorization.k8s.io/v1",
		"version",
	}
	if diff := cmp.Diff(want, got, cmpSortStrings); diff != "" {
		t.Errorf("index paths (-want +got):\n%s", diff)
	}
}

var cmpSortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })
