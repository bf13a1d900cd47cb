package node_test

import (
	"github.com/skiff-sh/skiff/internal/node"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-sh/skiff/internal/apiserver"
)

type okHandler struct{}

func (okHandler) ServeSubresource(w http.ResponseWriter, _ *http.Request, _ *apiserver.Request) error {
	w.WriteHeader(http.StatusTeapot)
	return nil
}

func TestDeferredHandler_ServeSubresource_UnavailableUntilSet(t *testing.T) {
	t.Parallel()
	var d node.DeferredHandler
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/p/log", nil)
	if err := d.ServeSubresource(httptest.NewRecorder(), r, &apiserver.Request{}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("before Set: %v, want 503", err)
	}
	d.Set(okHandler{})
	rec := httptest.NewRecorder()
	if err := d.ServeSubresource(rec, r, &apiserver.Request{}); err != nil || rec.Code != http.StatusTeapot {
		t.Fatalf("after Set: %v, code %d", err, rec.Code)
	}
}
