package auth_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// FuzzAPI_DecodeAndDeleteOptions sends arbitrary bodies, content types and
// query strings to the create, update, patch, delete and deletecollection
// handlers of a real server (request decoding and DeleteOptions parsing).
// No input may crash a handler (the panic filter would answer 500) or get a
// non-Status error body. Seed corpus: testdata/fuzz/FuzzAPI_DecodeAndDeleteOptions.
//
// CI: go test ./test/auth -run='^$' -fuzz='^FuzzAPI_DecodeAndDeleteOptions$' -fuzztime=10s
func FuzzAPI_DecodeAndDeleteOptions(f *testing.F) {
	f.Add(uint8(0), "propagationPolicy=Foo", "application/json", []byte(""))
	f.Add(uint8(0), "", "application/json", []byte(`{"dryRun":["All"],"propagationPolicy":"Foreground"}`))
	f.Add(uint8(1), "", "application/json", []byte(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"fz"}}`))
	f.Add(uint8(2), "fieldValidation=Strict", "application/merge-patch+json", []byte(`{"spec":{"parallelism":2}}`))
	ts := testserver.Start(f, testserver.Options{JSON: true, DataDir: testserver.FuzzDataDir(f)})
	base := ts.URL() + "/apis/batch/v1/namespaces/default/jobs"
	f.Fuzz(func(t *testing.T, op uint8, query, contentType string, body []byte) {
		if _, err := url.ParseQuery(query); err != nil {
			return
		}
		method, path := http.MethodDelete, base+"/fz"
		switch op % 5 {
		case 1:
			method, path = http.MethodPost, base
		case 2:
			method = http.MethodPatch
		case 3:
			method = http.MethodPut
		case 4:
			path = base
		}
		req, err := http.NewRequestWithContext(t.Context(), method, path+"?"+query, bytes.NewReader(body))
		if err != nil {
			return
		}
		if !httpguts.ValidHeaderFieldValue(contentType) {
			return // net/http refuses to send it: it never reaches the server
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if req.Header.Get("Content-Type") != contentType {
			return
		}
		resp, err := ts.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, req.URL, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (Content-Type %q, body %q): %d %s", method, req.URL, contentType, body, resp.StatusCode, data)
		}
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") == "application/json" {
			var st struct {
				Kind string `json:"kind"`
				Code int    `json:"code"`
			}
			if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" || st.Code != resp.StatusCode {
				t.Fatalf("%s %s: error body is not a Status: %s", method, req.URL, data)
			}
		}
	})
}
