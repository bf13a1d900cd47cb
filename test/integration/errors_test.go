package integration

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

const (
	cmPath      = "/api/v1/namespaces/default/configmaps"
	jobsPath    = "/apis/batch/v1/namespaces/default/jobs"
	notFoundMsg = "the server could not find the requested resource"
	methodMsg   = "the server does not allow this method on the requested resource"
	acceptMsg   = "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf"
	mediaMsg    = "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
)

// errorCase is one bad request and upstream's exact answer.
type errorCase struct {
	req     request
	code    int
	reason  metav1.StatusReason
	message string
	// prefix: message must only start with message (scheme names and
	// internal type names differ from kube-apiserver's).
	prefix bool
	// details: "absent", "empty" ({}), or "" (not checked).
	details string
	bug     string
}

func runErrorCases(t *testing.T, ts *testserver.Server, cases map[string]errorCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip(tc.bug)
			}
			r := do(t, ts, tc.req)
			if r.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", r.Code, tc.code, r.Body)
			}
			st := r.status(t)
			if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || st.Code != int32(tc.code) || st.Reason != tc.reason {
				t.Errorf("status %+v, want Failure %d %s", st, tc.code, tc.reason)
			}
			if tc.prefix && !strings.HasPrefix(st.Message, tc.message) {
				t.Errorf("message %q, want prefix %q", st.Message, tc.message)
			}
			if !tc.prefix && st.Message != tc.message {
				t.Errorf("message %q, want %q", st.Message, tc.message)
			}
			details, has := r.fields(t)["details"]
			switch tc.details {
			case "absent":
				if has {
					t.Errorf("details present: %s", r.Body)
				}
			case "empty":
				if m, ok := details.(map[string]any); !has || !ok || len(m) != 0 {
					t.Errorf("details = %v, want {}", details)
				}
			}
		})
	}
}

func TestErrors_BadInput(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	for _, n := range []string{"a", "b"} {
		if _, err := ts.Client.CoreV1().ConfigMaps("default").Create(ctx, cmWithLabels(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createJob(t, ts, "default", baseJob("pi"))
	json := "application/json"
	runErrorCases(t, ts, map[string]errorCase{
		"malformed JSON": {req: request{Method: "POST", Path: cmPath, Body: `{"metadata":`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: unexpected end of JSON input ({"metadata":)`, details: "absent"},
		"not JSON at all": {req: request{Method: "POST", Path: cmPath, Body: `not json`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: invalid character 'o' in literal null (expecting 'u') (6e6f74206a736f6e)`, details: "absent"},
		"empty body": {req: request{Method: "POST", Path: cmPath, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)`, details: "absent"},
		"long malformed body is summarized": {req: request{Method: "POST", Path: cmPath, Body: `{"metadata":{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: unexpected end of JSON input ({"metadata":{"name":"aaaaaaaaa ...)`, details: "absent"},
		"wrong field type": {req: request{Method: "POST", Path: cmPath, Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":1}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string`, details: "absent"},
		"wrong kind in body": {req: request{Method: "POST", Path: cmPath, Body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to `, prefix: true, details: "absent"},
		"wrong apiVersion in body": {req: request{Method: "POST", Path: jobsPath, Body: `{"apiVersion":"batch/v2","kind":"Job","metadata":{"name":"x"}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `Job in version "v2" cannot be handled as a Job: no kind "Job" is registered for version "batch/v2" in scheme `, prefix: true, details: "absent"},
		"kind from another group": {req: request{Method: "POST", Path: cmPath, Body: `{"apiVersion":"batch/v1","kind":"ConfigMap","metadata":{"name":"x"}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `ConfigMap in version "v1" cannot be handled as a ConfigMap: no kind "ConfigMap" is registered for version "batch/v1" in scheme `, prefix: true, details: "absent"},
		"URL and body name differ": {req: request{Method: "PUT", Path: cmPath + "/a", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the name of the object (b) does not match the name on the URL (a)`, details: "absent"},
		"URL and body namespace differ on update": {req: request{Method: "PUT", Path: cmPath + "/a", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"other"}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the namespace of the object (other) does not match the namespace on the request (default)`, details: "absent"},
		"URL and body namespace differ on create": {req: request{Method: "POST", Path: jobsPath, Body: `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x","namespace":"other"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `the namespace of the provided object does not match the namespace sent on the request`, details: "absent"},
		"unknown fields with Strict": {req: request{Method: "POST", Path: cmPath + "?fieldValidation=Strict", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"spec":{}}`, ContentType: json}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spec"`, details: "absent"},
		"create in a missing namespace": {req: request{Method: "POST", Path: "/api/v1/namespaces/nope/configmaps", Body: `{"metadata":{"name":"x"}}`, ContentType: json}, code: 404, reason: metav1.StatusReasonNotFound,
			message: `namespaces "nope" not found`},
		"unsupported Content-Type on create": {req: request{Method: "POST", Path: cmPath, Body: `{"metadata":{"name":"x"}}`, ContentType: "text/plain"}, code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			message: mediaMsg, details: "absent"},
		"form Content-Type on update": {req: request{Method: "PUT", Path: cmPath + "/a", Body: `{"metadata":{"name":"a"}}`, ContentType: "application/x-www-form-urlencoded"}, code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			message: mediaMsg, details: "absent"},
		"unsupported patch type": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `{}`, ContentType: "text/plain"}, code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			message: "415: Unsupported Media Type", details: "empty"},
		"patch without Content-Type": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `{}`}, code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			message: "415: Unsupported Media Type", details: "empty"},
		// v1.37's PatchResource checks the body is JSON (validateAndTranscodePatch)
		// before any patch mechanism decodes it.
		"malformed merge patch": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `{"data":`, ContentType: "application/merge-patch+json"}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `invalid JSON patch`},
		"malformed JSON patch": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `[{"op":`, ContentType: "application/json-patch+json"}, code: 400, reason: metav1.StatusReasonBadRequest,
			message: `invalid JSON patch`},
		"JSON patch that cannot apply": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `[{"op":"replace","path":"/data/missing","value":"x"}]`, ContentType: "application/json-patch+json"}, code: 422, reason: metav1.StatusReasonInvalid,
			message: `the server rejected our request due to an error in our request`, details: "empty"},
		"merge patch that does not fit the type": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `{"data":{"k":1}}`, ContentType: "application/merge-patch+json"}, code: 422, reason: metav1.StatusReasonInvalid,
			message: ` "" is invalid: patch: Invalid value: "{`, prefix: true},
		"strategic merge patch that does not fit the type": {req: request{Method: "PATCH", Path: cmPath + "/a", Body: `{"data":{"k":1}}`, ContentType: "application/strategic-merge-patch+json"}, code: 422, reason: metav1.StatusReasonInvalid,
			message: ` "" is invalid: patch: Invalid value: "map[data:map[k:1]]": `, prefix: true},
		"unsupported Accept on get": {req: request{Method: "GET", Path: cmPath + "/a", Accept: "text/html"}, code: 406, reason: metav1.StatusReasonNotAcceptable,
			message: acceptMsg, details: "empty"},
		"unsupported Accept on list": {req: request{Method: "GET", Path: cmPath, Accept: "application/xml"}, code: 406, reason: metav1.StatusReasonNotAcceptable,
			message: acceptMsg, details: "empty"},
		"unsupported Accept on create": {req: request{Method: "POST", Path: cmPath, Body: `{"metadata":{"name":"acc"}}`, ContentType: json, Accept: "text/html"}, code: 406, reason: metav1.StatusReasonNotAcceptable,
			message: acceptMsg, details: "empty"},
		"unknown resource": {req: request{Method: "GET", Path: "/api/v1/namespaces/default/foos"}, code: 404, reason: metav1.StatusReasonNotFound, message: notFoundMsg, details: "empty"},
		"unknown version":  {req: request{Method: "GET", Path: "/apis/batch/v2/namespaces/default/jobs"}, code: 404, reason: metav1.StatusReasonNotFound, message: notFoundMsg, details: "empty"},
		"unknown group":    {req: request{Method: "GET", Path: "/apis/nope.example/v1/things"}, code: 404, reason: metav1.StatusReasonNotFound, message: notFoundMsg, details: "empty"},
		"unknown subresource": {req: request{Method: "GET", Path: jobsPath + "/pi/foo"}, code: 404, reason: metav1.StatusReasonNotFound,
			message: notFoundMsg, details: "empty"},
		"cluster-scoped under a namespace": {req: request{Method: "GET", Path: "/api/v1/namespaces/default/nodes"}, code: 404, reason: metav1.StatusReasonNotFound,
			message: notFoundMsg, details: "empty"},
		"unknown path": {req: request{Method: "GET", Path: "/foo/bar"}, code: 404, reason: metav1.StatusReasonNotFound, message: notFoundMsg, details: "empty"},
		"missing object": {req: request{Method: "GET", Path: cmPath + "/zz"}, code: 404, reason: metav1.StatusReasonNotFound,
			message: `configmaps "zz" not found`},
		"POST on an object":       {req: request{Method: "POST", Path: jobsPath + "/pi", Body: `{}`, ContentType: json}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"PUT on a collection":     {req: request{Method: "PUT", Path: jobsPath, Body: `{}`, ContentType: json}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"PATCH on a collection":   {req: request{Method: "PATCH", Path: cmPath, Body: `{}`, ContentType: "application/merge-patch+json"}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"DELETE on status":        {req: request{Method: "DELETE", Path: jobsPath + "/pi/status"}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"POST on status":          {req: request{Method: "POST", Path: jobsPath + "/pi/status", Body: `{}`, ContentType: json}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"deletecollection of ns":  {req: request{Method: "DELETE", Path: "/api/v1/namespaces"}, code: 405, reason: metav1.StatusReasonMethodNotAllowed, message: methodMsg, details: "empty"},
		"invalid timeout":         {req: request{Method: "GET", Path: cmPath + "?timeout=abc"}, code: 400, reason: metav1.StatusReasonBadRequest, message: `invalid timeout specified in the request URL - time: invalid duration "abc"`, bug: "server bug: ?timeout= is not parsed (no timeout filter): abc is accepted, 1ns gives no 504"},
		"invalid resourceVersion": {req: request{Method: "GET", Path: cmPath + "?resourceVersion=abc"}, code: 400, reason: metav1.StatusReasonBadRequest, message: `invalid resource version: strconv.ParseUint: parsing "abc": invalid syntax`, prefix: true},
	})
}

// chunked hides the length of a body so the client sends it chunked.
type chunked struct{ io.Reader }

func TestErrors_OversizeBody_413(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	if _, err := ts.Client.CoreV1().ConfigMaps("default").Create(testCtx(t), cmWithLabels("a", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	big := `{"metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 3*1024*1024) + `"}}`
	cases := map[string]struct {
		method, path, ct string
		sized            bool
	}{
		"create":           {"POST", cmPath, "application/json", true},
		"create chunked":   {"POST", cmPath, "application/json", false},
		"update":           {"PUT", cmPath + "/a", "application/json", true},
		"patch":            {"PATCH", cmPath + "/a", "application/merge-patch+json", true},
		"delete options":   {"DELETE", cmPath + "/a", "application/json", true},
		"delete chunked":   {"DELETE", cmPath + "/a", "application/json", false},
		"deletecollection": {"DELETE", cmPath, "application/json", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if !tc.sized {
				body = chunked{bytes.NewReader([]byte(big))}
			}
			req, err := http.NewRequestWithContext(testCtx(t), tc.method, ts.URL()+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.ct)
			resp, err := ts.HTTP.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			expectFailure(t, response{Code: resp.StatusCode, Header: resp.Header, Body: data}, 413, metav1.StatusReasonRequestEntityTooLarge,
				"Request entity too large: limit is 3145728")
		})
	}
	if _, err := ts.Client.CoreV1().ConfigMaps("default").Get(testCtx(t), "a", metav1.GetOptions{}); err != nil {
		t.Errorf("configmap a after refused oversize requests: %v", err)
	}
}

// TestErrors_NeverInternal throws malformed input at every verb and path
// shape and requires a 4xx answer, never a 5xx or a dropped connection.
func TestErrors_NeverInternal(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	createJob(t, ts, "default", baseJob("pi"))
	bodies := []string{"", "null", "{}", "[]", "[{}]", `"x"`, "1", "{", `{"kind":1}`, `{"apiVersion":"v1","kind":"Status"}`, `{"metadata":null,"spec":null}`,
		`{"metadata":{"name":"pi","finalizers":[1]}}`, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},"spec":{"template":null}}`, "\x00\xff\xfe"}
	paths := []string{jobsPath, jobsPath + "/pi", jobsPath + "/pi/status", "/api/v1/namespaces/default/pods/p/binding", "/api/v1/namespaces", "/api/v1/namespaces/x/finalize", "/api/v1/nodes/n/status"}
	types := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"}
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, p := range paths {
			for _, ct := range types {
				for _, b := range bodies {
					r := do(t, ts, request{Method: method, Path: p, Body: b, ContentType: ct})
					if r.Code >= 500 {
						t.Errorf("%s %s (%s) %q: %d %s", method, p, ct, b, r.Code, r.Body)
					}
				}
			}
		}
	}
}
