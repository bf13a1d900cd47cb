package openapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

func TestService_ServeV2_Negotiation(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	tests := map[string]struct {
		accept      string
		wantCode    int
		wantType    string
		wantProtoV2 bool
	}{
		"no accept header gets JSON":        {"", http.StatusOK, "application/json", false},
		"JSON":                              {"application/json", http.StatusOK, "application/json", false},
		"kubectl's protobuf with fallback":  {"application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json", http.StatusOK, contentTypeProtoV2, true},
		"dotted protobuf":                   {"application/com.github.proto-openapi.spec.v2.v1.0+protobuf", http.StatusOK, contentTypeProtoV2, true},
		"preferences are honoured":          {"application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.5, application/json", http.StatusOK, "application/json", false},
		"an unknown type is not acceptable": {"text/html", http.StatusNotAcceptable, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := get(t, s, (*Service).ServeV2, "/openapi/v2", http.Header{"Accept": {tc.accept}})
			if w.Code != tc.wantCode {
				t.Fatalf("code = %d, want %d", w.Code, tc.wantCode)
			}
			if tc.wantCode != http.StatusOK {
				return
			}
			if got := w.Header().Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if !tc.wantProtoV2 {
				return
			}
			var doc openapi_v2.Document
			if err := proto.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("protobuf does not parse: %v", err)
			}
			if _, ok := findDefinition(&doc, "io.k8s.api.batch.v1.Job"); !ok {
				t.Error("protobuf v2 lacks the Job definition")
			}
		})
	}
}

func findDefinition(doc *openapi_v2.Document, name string) (*openapi_v2.Schema, bool) {
	for _, p := range doc.GetDefinitions().GetAdditionalProperties() {
		if p.GetName() == name {
			return p.GetValue(), true
		}
	}
	return nil, false
}

func TestService_ServeV2_ETag(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	first := get(t, s, (*Service).ServeV2, "/openapi/v2", nil)
	etag := first.Header().Get("Etag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := get(t, s, (*Service).ServeV2, "/openapi/v2", http.Header{"If-None-Match": {etag}})
	if again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: code %d, want 304", again.Code)
	}
	stale := get(t, s, (*Service).ServeV2, "/openapi/v2", http.Header{"If-None-Match": {`"stale"`}})
	if stale.Code != http.StatusOK {
		t.Errorf("If-None-Match with a stale ETag: code %d, want 200", stale.Code)
	}
}

func TestService_ServeV2_Gzip(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	plain := get(t, s, (*Service).ServeV2, "/openapi/v2", nil)
	zipped := get(t, s, (*Service).ServeV2, "/openapi/v2", http.Header{"Accept-Encoding": {"gzip, deflate"}})
	if got := zipped.Header().Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, plain.Body.Bytes()) {
		t.Error("gzipped body differs from the plain one")
	}
	refused := get(t, s, (*Service).ServeV2, "/openapi/v2", http.Header{"Accept-Encoding": {"gzip;q=0"}})
	if got := refused.Header().Get("Content-Encoding"); got != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", got)
	}
}

func TestService_ServeV3_GroupVersion(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	etag := s.v3["apis/batch/v1"].etag
	tests := map[string]struct {
		target       string
		accept       string
		wantCode     int
		wantType     string
		wantCache    string
		wantLocation string
	}{
		"JSON without hash": {
			target: "/openapi/v3/apis/batch/v1", wantCode: http.StatusOK, wantType: "application/json",
		},
		"current hash is immutable": {
			target: "/openapi/v3/apis/batch/v1?hash=" + etag, wantCode: http.StatusOK, wantType: "application/json",
			wantCache: "public, immutable",
		},
		"stale hash redirects to the current one": {
			target: "/openapi/v3/apis/batch/v1?hash=0000", wantCode: http.StatusMovedPermanently,
			wantLocation: "/openapi/v3/apis/batch/v1?hash=" + etag,
		},
		"protobuf": {
			target: "/openapi/v3/apis/batch/v1", accept: "application/com.github.proto-openapi.spec.v3@v1.0+protobuf",
			wantCode: http.StatusOK, wantType: contentTypeProtoV3,
		},
		"unknown group version": {target: "/openapi/v3/apis/apps/v1", wantCode: http.StatusNotFound},
		"unacceptable type":     {target: "/openapi/v3/apis/batch/v1", accept: "text/html", wantCode: http.StatusNotAcceptable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := get(t, s, (*Service).ServeV3, tc.target, http.Header{"Accept": {tc.accept}})
			got := struct {
				Code                  int
				Type, Cache, Location string
			}{
				w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), w.Header().Get("Location"),
			}
			want := struct {
				Code                  int
				Type, Cache, Location string
			}{tc.wantCode, tc.wantType, tc.wantCache, tc.wantLocation}
			if tc.wantCode != http.StatusOK {
				got.Type, want.Type = "", ""
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if tc.wantType == contentTypeProtoV3 {
				var doc openapi_v3.Document
				if err := proto.Unmarshal(w.Body.Bytes(), &doc); err != nil {
					t.Fatalf("protobuf does not parse: %v", err)
				}
				if !strings.HasPrefix(doc.GetOpenapi(), "3.") {
					t.Errorf("openapi = %q", doc.GetOpenapi())
				}
			}
		})
	}
}

func TestService_Serve_RejectsWrites(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	for _, target := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		req, err := http.NewRequest(http.MethodPost, target, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		if strings.HasPrefix(target, "/openapi/v2") {
			s.ServeV2(w, req)
		} else {
			s.ServeV3(w, req)
		}
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: code %d, want 405", target, w.Code)
		}
	}
}
