// Package deletion holds integration tests for deletion behaviour that needs
// the controllers (spec §10 D, items 81-96, the seed's three examples and
// namespace deletion): each test starts a real Skiff in-process with
// internal/testserver, which runs the API server and the job, garbage
// collector, namespace, serviceaccount, ttl-after-finished and podgc
// controllers.
//
// Pods stay Pending: Job templates carry a nodeSelector no node matches, so
// the tests hold whether or not a node agent runs pods. Where a test needs a
// terminal pod it writes pods/status itself.
package deletion

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/testserver"
)

const (
	// eventually bounds every wait for the controllers (spec §10: "poll for
	// up to 30 s").
	eventually = 30 * time.Second
	// absentLabel is a nodeSelector key no node carries, keeping pods
	// Pending even when a node agent runs.
	absentLabel = "skiff.test/absent"
	// holdFinalizer is the custom finalizer the tests add and remove.
	holdFinalizer = "example.com/hold"
	// trackingFinalizer is the Job controller's pod finalizer.
	trackingFinalizer = "batch.kubernetes.io/job-tracking"
	// jobDeleteWarning is upstream's Warning header on a Job delete that
	// names no propagation (spec §4.2).
	jobDeleteWarning = `299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"`
)

// env is one test's server and namespace.
type env struct {
	t   *testing.T
	ts  *testserver.Server
	ctx context.Context
	ns  string
}

// setup starts a server, creates namespace ns and registers a final check
// that everything in ns, and then ns itself, can still be deleted.
func setup(t *testing.T, ns string) *env {
	t.Helper()
	ts := testserver.Start(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ts: ts, ctx: ctx, ns: ns}
	e.createNamespace(ns)
	t.Cleanup(func() { e.expectDeletable() })
	return e
}

// createNamespace creates a namespace and waits for its default
// ServiceAccount, which pod admission may require.
func (e *env) createNamespace(name string) {
	e.t.Helper()
	_, err := e.ts.Client.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating namespace %s: %v", name, err)
	}
	e.poll("default ServiceAccount in "+name, func() (bool, error) {
		_, err := e.ts.Client.CoreV1().ServiceAccounts(name).Get(e.ctx, "default", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	})
}

// expectDeletable proves no request of the test left an object that can
// never be deleted: it drops the tests' own custom finalizers, deletes all
// Jobs and Pods with Background propagation and waits for them to go, then
// deletes the namespace and waits for it to go.
func (e *env) expectDeletable() {
	t := e.t
	if e.ctx.Err() != nil {
		return
	}
	e.dropHoldFinalizers()
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if err := e.ts.Client.BatchV1().Jobs(e.ns).DeleteCollection(e.ctx, opts, metav1.ListOptions{}); err != nil {
		t.Errorf("cleanup: deleting jobs: %v", err)
		return
	}
	if err := e.ts.Client.CoreV1().Pods(e.ns).DeleteCollection(e.ctx, opts, metav1.ListOptions{}); err != nil {
		t.Errorf("cleanup: deleting pods: %v", err)
		return
	}
	if !e.waitQuietly(func() (bool, error) { return e.contentGone() }) {
		t.Errorf("cleanup: objects in %s could not be deleted within %s: %s", e.ns, eventually, e.describeContent())
		return
	}
	err := e.ts.Client.CoreV1().Namespaces().Delete(e.ctx, e.ns, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: deleting namespace %s: %v", e.ns, err)
		return
	}
	gone := e.waitQuietly(func() (bool, error) {
		_, err := e.ts.Client.CoreV1().Namespaces().Get(e.ctx, e.ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
	if !gone {
		t.Errorf("cleanup: namespace %s not deleted within %s: %s", e.ns, eventually, e.describeContent())
	}
}

// dropHoldFinalizers removes holdFinalizer from every object of resources
// in the namespace (a failed test may leave some).
func (e *env) dropHoldFinalizers() {
	for name, gvr := range resources {
		list, err := e.ts.Dynamic.Resource(gvr).Namespace(e.ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, item := range list.Items {
			if slices.Contains(item.GetFinalizers(), holdFinalizer) {
				e.removeFinalizer(name, item.GetName(), holdFinalizer)
			}
		}
	}
}

func (e *env) contentGone() (bool, error) {
	pods, err := e.ts.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	jobs, err := e.ts.Client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	return len(pods.Items) == 0 && len(jobs.Items) == 0, nil
}

// describeContent lists what is left in the namespace, for failures.
func (e *env) describeContent() string {
	var parts []string
	if pods, err := e.ts.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			parts = append(parts, fmt.Sprintf("pod %s (deletionTimestamp %v, finalizers %q, ownerRefs %d)", p.Name, p.DeletionTimestamp, p.Finalizers, len(p.OwnerReferences)))
		}
	}
	if jobs, err := e.ts.Client.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{}); err == nil {
		for _, j := range jobs.Items {
			parts = append(parts, fmt.Sprintf("job %s (deletionTimestamp %v, finalizers %q)", j.Name, j.DeletionTimestamp, j.Finalizers))
		}
	}
	if ns, err := e.ts.Client.CoreV1().Namespaces().Get(context.Background(), e.ns, metav1.GetOptions{}); err == nil {
		parts = append(parts, fmt.Sprintf("namespace phase %s, spec.finalizers %q, conditions %+v", ns.Status.Phase, ns.Spec.Finalizers, ns.Status.Conditions))
	}
	if len(parts) == 0 {
		return "nothing left"
	}
	return strings.Join(parts, "; ")
}

// poll waits up to eventually for fn, failing the test with what on timeout.
func (e *env) poll(what string, fn func() (bool, error)) {
	e.t.Helper()
	e.pollFor(eventually, what, fn)
}

func (e *env) pollFor(timeout time.Duration, what string, fn func() (bool, error)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := fn()
		if err != nil {
			e.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %s; namespace content: %s", what, timeout, e.describeContent())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitQuietly polls like poll but reports instead of failing.
func (e *env) waitQuietly(fn func() (bool, error)) bool {
	deadline := time.Now().Add(eventually)
	for time.Now().Before(deadline) {
		if ok, err := fn(); ok && err == nil {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// response is a raw HTTP answer.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// do sends a raw request with the admin token; a non-empty body is sent as
// JSON.
func (e *env) do(method, path, body string) response {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.ts.URL()+path, r)
	if err != nil {
		e.t.Fatalf("building %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.ts.HTTP.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: data}
}

// expectCode fails the test unless the response has code want.
func (r response) expectCode(t testing.TB, step string, want int) {
	t.Helper()
	if r.Code != want {
		t.Fatalf("%s: code %d, want %d; body %s", step, r.Code, want, r.Body)
	}
}

// expectWarning checks that the Job delete Warning header is present
// exactly once (want) or absent.
func (r response) expectWarning(t testing.TB, step string, want bool) {
	t.Helper()
	got := r.Header.Values("Warning")
	switch {
	case want && !slices.Equal(got, []string{jobDeleteWarning}):
		t.Errorf("%s: Warning headers %q, want exactly [%s]", step, got, jobDeleteWarning)
	case !want && len(got) != 0:
		t.Errorf("%s: Warning headers %q, want none", step, got)
	}
}

// into decodes the JSON body into obj.
func (r response) into(t testing.TB, obj any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, obj); err != nil {
		t.Fatalf("decoding body: %v: %s", err, r.Body)
	}
}

// fields decodes the JSON body as a generic object.
func (r response) fields(t testing.TB) map[string]any {
	t.Helper()
	m := map[string]any{}
	r.into(t, &m)
	return m
}

// resources maps the resource names the tests use to their GVRs.
var resources = map[string]schema.GroupVersionResource{
	"pods":       {Version: "v1", Resource: "pods"},
	"configmaps": {Version: "v1", Resource: "configmaps"},
	"jobs":       {Group: "batch", Version: "v1", Resource: "jobs"},
}

// removeFinalizer drops one finalizer from an object with a JSON patch
// guarded by a test of the list entry, retrying when the list moved.
func (e *env) removeFinalizer(resource, name, finalizer string) {
	e.t.Helper()
	gvr, ok := resources[resource]
	if !ok {
		e.t.Fatalf("unknown resource %s", resource)
	}
	client := e.ts.Dynamic.Resource(gvr).Namespace(e.ns)
	e.poll(fmt.Sprintf("removing %s from %s %s", finalizer, resource, name), func() (bool, error) {
		obj, err := client.Get(e.ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		idx := slices.Index(obj.GetFinalizers(), finalizer)
		if idx < 0 {
			return true, nil
		}
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, idx, finalizer, idx)
		_, err = client.Patch(e.ctx, name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			return true, nil
		case apierrors.IsConflict(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			return false, nil // the list changed under us
		}
		return false, err
	})
}

// patch patches an object of one of resources.
func (e *env) patch(resource, name string, pt types.PatchType, data string) (metav1.Object, error) {
	gvr, ok := resources[resource]
	if !ok {
		return nil, fmt.Errorf("unknown resource %s", resource)
	}
	return e.ts.Dynamic.Resource(gvr).Namespace(e.ns).Patch(e.ctx, name, pt, []byte(data), metav1.PatchOptions{})
}

func ptr[T any](v T) *T { return &v }

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
