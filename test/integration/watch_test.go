package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// seen is an event reduced to what tests compare.
type seen struct {
	Type watch.EventType
	Name string
	RV   string
}

func nextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no watch event within 10s")
	}
	return watch.Event{}
}

func nextSeen(t testing.TB, w watch.Interface) seen {
	t.Helper()
	ev := nextEvent(t, w)
	if ev.Type == watch.Error {
		t.Fatalf("watch error event: %+v", ev.Object)
	}
	m := metaOf(t, ev.Object)
	return seen{Type: ev.Type, Name: m.GetName(), RV: m.GetResourceVersion()}
}

func cmWithLabels(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestWatch_FromResourceVersion_EventsInOrder(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("default")
	a, err := cms.Create(ctx, cmWithLabels("a", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Data = map[string]string{"k": "v"}
	a2, err := cms.Update(ctx, a, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cms.Create(ctx, cmWithLabels("b", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	var got []seen
	for i := 0; i < 3; i++ {
		got = append(got, nextSeen(t, w))
	}
	c, err := cms.Create(ctx, cmWithLabels("c", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, nextSeen(t, w))
	delRV := got[2].RV
	want := []seen{
		{watch.Modified, "a", a2.ResourceVersion},
		{watch.Added, "b", b.ResourceVersion},
		{watch.Deleted, "a", delRV},
		{watch.Added, "c", c.ResourceVersion},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n, _ := strconv.Atoi(delRV); n <= mustAtoi(t, b.ResourceVersion) || n >= mustAtoi(t, c.ResourceVersion) {
		t.Errorf("DELETED resourceVersion %s not between %s and %s", delRV, b.ResourceVersion, c.ResourceVersion)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

func TestWatch_LabelSelector_DeletedWhenStopsMatching(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("default")
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "app=x", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	setLabel := func(name, v string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"app":%q}}}`, v)
		if _, err := cms.Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch %s: %v", name, err)
		}
	}
	if _, err := cms.Create(ctx, cmWithLabels("m", map[string]string{"app": "x"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, cmWithLabels("other", map[string]string{"app": "y"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setLabel("m", "y")     // stops matching: DELETED
	setLabel("other", "z") // never matches: nothing
	setLabel("m", "x")     // matches again: ADDED
	setLabel("other", "x") // starts matching: ADDED
	if err := cms.Delete(ctx, "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []seen
	for i := 0; i < 5; i++ {
		s := nextSeen(t, w)
		s.RV = ""
		got = append(got, s)
	}
	want := []seen{{watch.Added, "m", ""}, {watch.Deleted, "m", ""}, {watch.Added, "m", ""}, {watch.Added, "other", ""}, {watch.Deleted, "m", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatch_FieldSelector_PodNodeName(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	pods := ts.Client.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	other := basePod("elsewhere")
	other.Spec.NodeName = "n2"
	if _, err := pods.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := basePod("mine")
	mine.Spec.NodeName = "n1"
	if _, err := pods.Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := nextSeen(t, w); s.Type != watch.Added || s.Name != "mine" {
		t.Errorf("first event %+v, want ADDED mine", s)
	}
}

// rawWatch opens a JSON watch stream and returns a reader of its events.
func rawWatch(t testing.TB, ts *testserver.Server, path string) (*http.Response, func() metav1.WatchEvent) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "GET", ts.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.HTTP.Do(req)
	if err != nil {
		t.Fatalf("watch %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	return resp, func() metav1.WatchEvent {
		t.Helper()
		var ev metav1.WatchEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("reading watch event: %v", err)
		}
		return ev
	}
}

func TestWatch_SendInitialEvents_EndBookmark(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("default")
	var last string
	for _, n := range []string{"i1", "i2", "i3"} {
		cm, err := cms.Create(ctx, cmWithLabels(n, nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = cm.ResourceVersion
	}
	resp, next := rawWatch(t, ts, "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var names []string
	for i := 0; i < 3; i++ {
		ev := next()
		var cm corev1.ConfigMap
		if err := json.Unmarshal(ev.Object.Raw, &cm); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "ADDED" {
			t.Errorf("initial event %d is %s", i, ev.Type)
		}
		names = append(names, cm.Name)
	}
	if diff := cmp.Diff([]string{"i1", "i2", "i3"}, names); diff != "" {
		t.Errorf("initial events (-want +got):\n%s", diff)
	}
	ev := next()
	var bm corev1.ConfigMap
	if err := json.Unmarshal(ev.Object.Raw, &bm); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "BOOKMARK" || bm.Kind != "ConfigMap" || bm.APIVersion != "v1" || bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("after the initial events: %s %s", ev.Type, ev.Object.Raw)
	}
	if mustAtoi(t, bm.ResourceVersion) < mustAtoi(t, last) {
		t.Errorf("bookmark resourceVersion %s older than the last write %s", bm.ResourceVersion, last)
	}
	if _, err := cms.Create(ctx, cmWithLabels("live", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := next()
		if ev.Type == "BOOKMARK" {
			continue // periodic bookmarks are allowed
		}
		var cm corev1.ConfigMap
		if err := json.Unmarshal(ev.Object.Raw, &cm); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "ADDED" || cm.Name != "live" {
			t.Errorf("live event %s %s, want ADDED live", ev.Type, cm.Name)
		}
		break
	}
}

func TestWatch_InvalidOptions(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	cases := map[string]struct {
		query   string
		message string
	}{
		"sendInitialEvents without resourceVersionMatch": {"sendInitialEvents=true",
			`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan`},
		"resourceVersionMatch without sendInitialEvents": {"resourceVersionMatch=NotOlderThan",
			`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := doJSON(t, ts, "GET", "/api/v1/namespaces/default/configmaps?watch=true&"+tc.query, "")
			expectFailure(t, r, 422, metav1.StatusReasonInvalid, tc.message)
		})
	}
	t.Run("bad resourceVersion", func(t *testing.T) {
		r := doJSON(t, ts, "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc", "")
		if r.Code != 400 {
			t.Fatalf("code %d, want 400: %s", r.Code, r.Body)
		}
	})
}

func TestWatch_TimeoutSeconds_EndsStream(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	start := time.Now()
	resp, _ := rawWatch(t, ts, "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0")
	if resp.StatusCode != 200 {
		t.Fatalf("code %d", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(resp.Body).WriteTo(discard{})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v, want a clean end", err)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("stream ended after %s, before the 1s timeout", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch with timeoutSeconds=1 still open after 10s")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestWatch_Informer_SyncsAndSeesChanges(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("inf")
	createNamespace(t, ts, "inf")
	for i := 0; i < 20; i++ {
		if _, err := cms.Create(ctx, cmWithLabels(fmt.Sprintf("pre-%02d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(ts.Client, 0, informers.WithNamespace("inf"))
	inf := factory.Core().V1().ConfigMaps()
	events := make(chan string, 100)
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { events <- "add " + obj.(*corev1.ConfigMap).Name },
		UpdateFunc: func(_, obj any) {
			cm := obj.(*corev1.ConfigMap)
			events <- "update " + cm.Name + " " + cm.Data["k"]
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			events <- "delete " + obj.(*corev1.ConfigMap).Name
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	for typ, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	if n := len(inf.Informer().GetStore().List()); n != 20 {
		t.Errorf("synced store has %d objects, want 20", n)
	}
	for i := 0; i < 20; i++ {
		<-events // the initial adds
	}
	if _, err := cms.Create(ctx, cmWithLabels("new", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, "new", "application/merge-patch+json", []byte(`{"data":{"k":"v2"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		select {
		case e := <-events:
			got = append(got, e)
		case <-time.After(10 * time.Second):
			t.Fatalf("informer saw %v, want add, update, delete", got)
		}
	}
	if diff := cmp.Diff([]string{"add new", "update new v2", "delete new"}, got); diff != "" {
		t.Errorf("informer events (-want +got):\n%s", diff)
	}
	if _, ok, _ := inf.Informer().GetStore().GetByKey("inf/new"); ok {
		t.Errorf("informer store still has inf/new")
	}
}
