package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// matrixCall is one request of the identity × verb matrix, for the
// identity whose slug is k (its fixtures are named after it).
type matrixCall struct {
	resource, sub, group, verb string
	method                     string
	path                       func(k string) string
	// name and ns are what the 403 message names ("" ns: cluster scope).
	name func(k string) string
	ns   string
	// body, optional, gives the request's content type and body.
	body func(t *testing.T, ts *testserver.Server, k string) (string, string)
	// okCode is the answer when the identity may do it.
	okCode int
}

func none(string) string { return "" }

const (
	jobsPath = "/apis/batch/v1/namespaces/team-a/jobs"
	podsPath = "/api/v1/namespaces/team-a/pods"
	nsPath   = "/api/v1/namespaces"
)

const mergePatch = `{"metadata":{"labels":{"patched":"true"}}}`

func patchBody(*testing.T, *testserver.Server, string) (string, string) {
	return "application/merge-patch+json", mergePatch
}

// objectCalls are the verbs of a namespaced resource in team-a, plus its
// all-namespace list and watch.
func objectCalls(resource, group, base, allNS, prefix string, create, put func(*testing.T, *testserver.Server, string) (string, string)) []matrixCall {
	obj := func(k string) string { return prefix + k }
	at := func(k string) string { return base + "/" + obj(k) }
	coll := func(string) string { return base }
	mk := func(verb, method string, path, name func(string) string, ns string, code int) matrixCall {
		return matrixCall{resource: resource, group: group, verb: verb, method: method, path: path, name: name, ns: ns, okCode: code}
	}
	calls := []matrixCall{
		mk("get", http.MethodGet, at, obj, "team-a", 200),
		mk("list", http.MethodGet, coll, none, "team-a", 200),
		mk("watch", http.MethodGet, func(string) string { return base + "?watch=true" }, none, "team-a", 200),
		mk("create", http.MethodPost, coll, none, "team-a", 201),
		mk("update", http.MethodPut, at, obj, "team-a", 200),
		mk("patch", http.MethodPatch, at, obj, "team-a", 200),
		mk("delete", http.MethodDelete, at, obj, "team-a", 200),
		mk("deletecollection", http.MethodDelete, func(k string) string { return base + "?labelSelector=matrix%3D" + k }, none, "team-a", 200),
		mk("list", http.MethodGet, func(string) string { return allNS }, none, "", 200),
		mk("watch", http.MethodGet, func(string) string { return allNS + "?watch=1" }, none, "", 200),
	}
	calls[3].body, calls[4].body, calls[5].body = create, put, patchBody
	return calls
}

// namespaceCalls act on team-a, except that the admin deletes the
// namespace it created rather than the one the others use.
func namespaceCalls() []matrixCall {
	teamA := func(string) string { return "team-a" }
	scratch := func(k string) string { return "ns-" + k }
	doomed := func(k string) string {
		if k == "admin" {
			return scratch(k)
		}
		return "team-a"
	}
	path := func(name func(string) string) func(string) string {
		return func(k string) string { return nsPath + "/" + name(k) }
	}
	mk := func(verb, method string, p, name func(string) string, ns string, code int) matrixCall {
		return matrixCall{resource: "namespaces", verb: verb, method: method, path: p, name: name, ns: ns, okCode: code}
	}
	calls := []matrixCall{
		mk("get", http.MethodGet, path(teamA), teamA, "team-a", 200),
		mk("list", http.MethodGet, func(string) string { return nsPath }, none, "", 200),
		mk("watch", http.MethodGet, func(string) string { return nsPath + "?watch=true" }, none, "", 200),
		mk("create", http.MethodPost, func(string) string { return nsPath }, none, "", 201),
		mk("update", http.MethodPut, path(teamA), teamA, "team-a", 200),
		mk("patch", http.MethodPatch, path(teamA), teamA, "team-a", 200),
		mk("delete", http.MethodDelete, path(doomed), doomed, "", 200),
	}
	calls[5].body = patchBody
	calls[3].body = func(_ *testing.T, _ *testserver.Server, k string) (string, string) {
		return "application/json", fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, scratch(k))
	}
	calls[4].body = func(t *testing.T, ts *testserver.Server, _ string) (string, string) {
		ns, err := ts.Client.CoreV1().Namespaces().Get(context.Background(), "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}
		return putJSON(t, ns)
	}
	return calls
}

// A namespace's own 403 names it as its namespace (RequestInfo does).
func (c matrixCall) forbiddenNamespace(k string) string {
	if c.resource == "namespaces" && c.name(k) != "" {
		return c.name(k)
	}
	return c.ns
}

func matrixCalls() []matrixCall {
	calls := objectCalls("jobs", "batch", jobsPath, "/apis/batch/v1/jobs", "j-", createJobBody, putJobBody)
	calls = append(calls, objectCalls("pods", "", podsPath, "/api/v1/pods", "p-", createPodBody, putPodBody)...)
	logName := func(k string) string { return "p-" + k }
	// Without a node agent (APIOnly) the log handler answers 503: whoever
	// gets it passed authorization. TestAuthMatrix_PodLogs reads real logs.
	calls = append(calls, matrixCall{resource: "pods", sub: "log", verb: "get", method: http.MethodGet,
		path: func(k string) string { return podsPath + "/" + logName(k) + "/log" }, name: logName, ns: "team-a", okCode: http.StatusServiceUnavailable})
	return append(calls, namespaceCalls()...)
}

// matrixRights says which calls an authenticated identity may make.
type matrixRights func(c matrixCall) bool

// tenantAdmin is ClusterRole admin bound in team-a; viewer is view there.
func tenantAdmin(c matrixCall) bool {
	if c.ns == "" && c.resource != "namespaces" {
		return false
	}
	if c.resource == "namespaces" {
		return c.verb == "get"
	}
	return true
}

func viewer(c matrixCall) bool {
	read := c.verb == "get" || c.verb == "list" || c.verb == "watch"
	return tenantAdmin(c) && read
}

func nothing(matrixCall) bool    { return false }
func everything(matrixCall) bool { return true }

func putJSON(t *testing.T, obj runtime.Object) (string, string) {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return "application/json", string(data)
}

func matrixContainer() corev1.Container {
	return corev1.Container{Name: "c", Image: "busybox", Command: []string{"true"}}
}

func matrixJob(name, k string) *batchv1.Job {
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"matrix": k}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{matrixContainer()}}}},
	}
}

func matrixPod(name, k string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"matrix": k}},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{matrixContainer()}},
	}
}

func createJobBody(t *testing.T, _ *testserver.Server, k string) (string, string) {
	return putJSON(t, matrixJob("c-"+k, k))
}

func createPodBody(t *testing.T, _ *testserver.Server, k string) (string, string) {
	return putJSON(t, matrixPod("c-"+k, k))
}

// putJobBody is the identity's fixture Job as stored, relabelled.
func putJobBody(t *testing.T, ts *testserver.Server, k string) (string, string) {
	j, err := ts.Client.BatchV1().Jobs("team-a").Get(context.Background(), "j-"+k, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.TypeMeta = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}
	j.Labels["updated"] = "true"
	return putJSON(t, j)
}

func putPodBody(t *testing.T, ts *testserver.Server, k string) (string, string) {
	p, err := ts.Client.CoreV1().Pods("team-a").Get(context.Background(), "p-"+k, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	p.Labels["updated"] = "true"
	return putJSON(t, p)
}

// createFixtures gives identity k its own Job and Pod in team-a, so that
// the verbs that change or delete them do not disturb the other identities.
func createFixtures(t *testing.T, ts *testserver.Server, k string) {
	t.Helper()
	ctx := context.Background()
	if _, err := ts.Client.BatchV1().Jobs("team-a").Create(ctx, matrixJob("j-"+k, k), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.CoreV1().Pods("team-a").Create(ctx, matrixPod("p-"+k, k), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// matrixIdentity is one caller: its headers, and who it is once
// authenticated ("" for those that must get 401).
type matrixIdentity struct {
	slug    string
	headers map[string]string
	user    string
	rights  matrixRights
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// matrixIdentities sets up team-a (alice admin, carol view) and team-b
// (bob admin) and every kind of caller, the expired token included: it is
// seen to work first, then to be refused once its lifetime is over.
func matrixIdentities(t *testing.T, ts *testserver.Server, anon *http.Client) []matrixIdentity {
	createNamespaces(t, ts, "team-a", "team-b")
	bindClusterRole(t, ts, "alice", "admin", "team-a")
	bindClusterRole(t, ts, "carol", "view", "team-a")
	bindClusterRole(t, ts, "bob", "admin", "team-b")
	alice, bob, carol := issueTokenTTL(t, ts, "alice", 24*time.Hour), issueTokenTTL(t, ts, "bob", 0), issueTokenTTL(t, ts, "carol", 0)
	revoked := issueTokenTTL(t, ts, "alice", 0)
	revokeToken(t, ts, revoked.ID)
	expired := issueTokenTTL(t, ts, "alice", 2*time.Second)
	url := ts.URL() + jobsPath
	if got := doRequest(t, anon, http.MethodGet, url, bearer(expired.Token), "", ""); got.Code != http.StatusOK {
		t.Fatalf("a fresh token with a lifetime: %+v", got)
	}
	testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
		return doRequest(t, anon, http.MethodGet, url, bearer(expired.Token), "", "").Code == http.StatusUnauthorized, nil
	})
	return []matrixIdentity{
		{slug: "none"},
		{slug: "malformed", headers: map[string]string{"Authorization": "Bearer not.a/valid token"}},
		{slug: "malformed-xauth", headers: map[string]string{auth.HeaderAuthToken: "%%%"}},
		{slug: "unknown", headers: bearer("0123456789abcdef.c2VjcmV0c2VjcmV0")},
		{slug: "expired", headers: bearer(expired.Token)},
		{slug: "revoked", headers: map[string]string{auth.HeaderAuthToken: revoked.Token}},
		{slug: "bob", headers: bearer(bob.Token), user: "bob", rights: nothing},
		{slug: "alice", headers: bearer(alice.Token), user: "alice", rights: tenantAdmin},
		{slug: "alice-xauth", headers: map[string]string{auth.HeaderAuthToken: alice.Token}, user: "alice", rights: tenantAdmin},
		{slug: "carol", headers: bearer(carol.Token), user: "carol", rights: viewer},
		{slug: "admin", headers: bearer(ts.AdminConfig().BearerToken), user: auth.AdminUser, rights: everything},
	}
}

// The issue's matrix against the whole server: every verb on jobs, pods,
// pods/log and namespaces, watches and all-namespace lists included, for
// every kind of caller, with the exact code and upstream's exact 401 and
// 403 bodies.
func TestAuthMatrix_IdentitiesVerbsResources(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	anon := anonymousClient(t, ts)
	for _, id := range matrixIdentities(t, ts, anon) {
		t.Run(id.slug, func(t *testing.T) {
			createFixtures(t, ts, id.slug)
			for _, c := range matrixCalls() {
				path := c.path(id.slug)
				want := reply{Code: c.okCode}
				switch {
				case id.user == "":
					want = reply{Code: http.StatusUnauthorized, Body: canonicalJSON([]byte(unauthorizedBody))}
				case !id.rights(c):
					want = reply{Code: http.StatusForbidden, Body: forbidden(id.user, c.verb, c.group, c.resource, c.sub, c.name(id.slug), c.forbiddenNamespace(id.slug))}
				}
				ct, body := "", ""
				if c.body != nil {
					ct, body = c.body(t, ts, id.slug)
				}
				got := doRequest(t, anon, c.method, ts.URL()+path, id.headers, ct, body)
				if want.Code == http.StatusServiceUnavailable && got.Code == want.Code {
					got.Body = "" // the log handler's own message is not under test
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s %s (%s %s): (-want +got)\n%s", c.method, path, c.verb, c.resource, diff)
				}
			}
		})
	}
}

// With the node agent running, pods/log answers the pod's real output to
// those who may read it, and the same 401 and 403 as everything else to the
// others.
func TestAuthMatrix_PodLogs(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{})
	anon := anonymousClient(t, ts)
	ctx := context.Background()
	createNamespaces(t, ts, "team-a", "team-b")
	bindClusterRole(t, ts, "alice", "admin", "team-a")
	bindClusterRole(t, ts, "carol", "view", "team-a")
	bindClusterRole(t, ts, "bob", "admin", "team-b")
	pod := matrixPod("hello", "logs")
	pod.Spec.Containers[0].Command = []string{"echo", "hello from team-a"}
	if _, err := ts.Client.CoreV1().Pods("team-a").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.PollUntil(t, 3*time.Minute, func() (bool, error) {
		p, err := ts.Client.CoreV1().Pods("team-a").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod failed: %+v", p.Status)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	tokens := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		tokens[u] = issueTokenTTL(t, ts, u, 0).Token
	}
	const logs = "hello from team-a\n"
	denied := func(user string) reply {
		return reply{Code: http.StatusForbidden, Body: forbidden(user, "get", "", "pods", "log", "hello", "team-a")}
	}
	for name, tc := range map[string]struct {
		headers map[string]string
		want    reply
	}{
		"no token":      {nil, reply{Code: http.StatusUnauthorized, Body: canonicalJSON([]byte(unauthorizedBody))}},
		"unknown token": {bearer("0123456789abcdef.c2VjcmV0c2VjcmV0"), reply{Code: http.StatusUnauthorized, Body: canonicalJSON([]byte(unauthorizedBody))}},
		"other tenant":  {bearer(tokens["bob"]), denied("bob")},
		"own tenant":    {map[string]string{auth.HeaderAuthToken: tokens["alice"]}, reply{Code: http.StatusOK, Body: logs}},
		"viewer":        {bearer(tokens["carol"]), reply{Code: http.StatusOK, Body: logs}},
		"admin":         {bearer(ts.AdminConfig().BearerToken), reply{Code: http.StatusOK, Body: logs}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, q := range []string{"", "?follow=true"} {
				got := readLog(t, anon, ts.URL()+podsPath+"/hello/log"+q, tc.headers)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("log%s: (-want +got)\n%s", q, diff)
				}
			}
		})
	}
}

// readLog reads a pods/log answer whole (the pod has ended, so a follow
// ends too).
func readLog(t *testing.T, c *http.Client, url string, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		return reply{Code: resp.StatusCode, Body: string(data)}
	}
	return reply{Code: resp.StatusCode, Body: canonicalJSON(data)}
}
