package openapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/version"
)

func TestDeferred_ServeV2_WaitsForTheBuild(t *testing.T) {
	t.Parallel()
	d := NewDeferred(skiffResources(), Options{Version: version.Info{GitVersion: "v1.37.2-skiff.1"}})
	w := httptest.NewRecorder()
	d.ServeV2(w, httptest.NewRequest(http.MethodGet, "/openapi/v2", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("code %d, content type %q; want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	w = httptest.NewRecorder()
	d.ServeV3(w, httptest.NewRequest(http.MethodGet, "/openapi/v3/apis/batch/v1", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("v3 code %d, want 200", w.Code)
	}
}

func TestDeferred_ServeV2_BuildError(t *testing.T) {
	t.Parallel()
	d := NewDeferred([]Resource{{Group: "batch", Version: "v1", Kind: "Jobb", ListKind: "JobList", Resource: "jobs"}}, Options{})
	if err := d.Wait(); err == nil {
		t.Fatal("Wait: want the build's error")
	}
	w := httptest.NewRecorder()
	d.ServeV2(w, httptest.NewRequest(http.MethodGet, "/openapi/v2", nil))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("code %d, want 500", w.Code)
	}
}

func TestDeferred_ServeV3_GivesUpWithTheRequest(t *testing.T) {
	t.Parallel()
	d := &Deferred{done: make(chan struct{})} // a build that never ends
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	d.ServeV3(w, httptest.NewRequest(http.MethodGet, "/openapi/v3", nil).WithContext(ctx))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("code %d, want 503", w.Code)
	}
}
