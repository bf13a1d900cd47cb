package integration

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

const pageObjects = 1100

// createConfigMaps creates n configmaps page-0000... with parity labels,
// using a few concurrent workers.
func createConfigMaps(t *testing.T, ts *testserver.Server, ns string, n int) {
	t.Helper()
	ctx := testCtx(t)
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				parity := "even"
				if i%2 == 1 {
					parity = "odd"
				}
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("page-%04d", i), Labels: map[string]string{"parity": parity}}}
				if _, err := ts.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					select {
					case errs <- fmt.Errorf("creating %s: %w", cm.Name, err):
					default:
					}
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestList_Pagination_ThousandObjects(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	createNamespace(t, ts, "page")
	createConfigMaps(t, ts, "page", pageObjects)
	cms := ts.Client.CoreV1().ConfigMaps("page")

	t.Run("limit and continue", func(t *testing.T) {
		var names []string
		listRV, cont := "", ""
		for page := 0; ; page++ {
			list, err := cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: cont})
			if err != nil {
				t.Fatalf("page %d: %v", page, err)
			}
			if page == 0 {
				listRV = list.ResourceVersion
				// A write between pages must not show up in later pages.
				if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page-zzzz"}}, metav1.CreateOptions{}); err != nil {
					t.Fatalf("create between pages: %v", err)
				}
			} else if list.ResourceVersion != listRV {
				t.Errorf("page %d resourceVersion %s, want %s as on the first page", page, list.ResourceVersion, listRV)
			}
			for _, cm := range list.Items {
				names = append(names, cm.Name)
			}
			remaining := pageObjects - len(names)
			if list.Continue == "" {
				if list.RemainingItemCount != nil {
					t.Errorf("last page has remainingItemCount %d", *list.RemainingItemCount)
				}
				break
			}
			if len(list.Items) != 100 {
				t.Errorf("page %d has %d items, want 100", page, len(list.Items))
			}
			if list.RemainingItemCount == nil || *list.RemainingItemCount != int64(remaining) {
				t.Errorf("page %d remainingItemCount %v, want %d", page, list.RemainingItemCount, remaining)
			}
			cont = list.Continue
			if page > 20 {
				t.Fatalf("too many pages")
			}
		}
		want := make([]string, pageObjects)
		for i := range want {
			want[i] = fmt.Sprintf("page-%04d", i)
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("paged names (-want +got):\n%s", diff)
		}
	})

	t.Run("label selector with limit", func(t *testing.T) {
		total, cont := 0, ""
		for {
			list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "parity=odd", Limit: 200, Continue: cont})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			for _, cm := range list.Items {
				if cm.Labels["parity"] != "odd" {
					t.Fatalf("%s does not match parity=odd", cm.Name)
				}
			}
			total += len(list.Items)
			if cont = list.Continue; cont == "" {
				break
			}
		}
		if total != pageObjects/2 {
			t.Errorf("%d odd configmaps, want %d", total, pageObjects/2)
		}
	})

	t.Run("full list", func(t *testing.T) {
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		n := 0
		for _, cm := range list.Items {
			if cm.Name != "page-zzzz" { // created by the paging subtest
				n++
			}
		}
		if n != pageObjects || list.Continue != "" || list.RemainingItemCount != nil {
			t.Errorf("full list: %d items, continue %q, remaining %v; want %d, none", n, list.Continue, list.RemainingItemCount, pageObjects)
		}
		if !sort.SliceIsSorted(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name }) {
			t.Errorf("list is not sorted by name")
		}
	})
}

func TestList_ResourceVersionMatch(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("default")
	a, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := doJSON(t, ts, "GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact", "")
	expectFailure(t, r, 422, metav1.StatusReasonInvalid,
		`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided`)
	exact, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil {
		t.Fatalf("exact list: %v", err)
	}
	if exact.ResourceVersion != a.ResourceVersion || len(exact.Items) != 1 || exact.Items[0].Name != "a" {
		t.Errorf("exact list at %s: rv %s, %d items, want only a", a.ResourceVersion, exact.ResourceVersion, len(exact.Items))
	}
	newer, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatalf("notOlderThan list: %v", err)
	}
	if len(newer.Items) != 2 {
		t.Errorf("notOlderThan list: %d items, want 2", len(newer.Items))
	}
}

func TestList_Selectors(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	createNamespace(t, ts, "other")
	pods := ts.Client.CoreV1().Pods("default")
	mk := func(name, node string, labels map[string]string, restart corev1.RestartPolicy) *corev1.Pod {
		p := basePod(name)
		p.Labels, p.Spec.NodeName, p.Spec.RestartPolicy = labels, node, restart
		out, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		return out
	}
	mk("p1", "n1", map[string]string{"app": "a", "tier": "web"}, corev1.RestartPolicyAlways)
	running := mk("p2", "n2", map[string]string{"app": "b"}, corev1.RestartPolicyNever)
	mk("p3", "", nil, corev1.RestartPolicyOnFailure)
	running.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}
	if _, err := ts.Client.CoreV1().Pods("other").Create(ctx, basePod("p4"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create p4: %v", err)
	}

	jobs := ts.Client.BatchV1().Jobs("default")
	createJob(t, ts, "default", baseJob("j0"))
	j1 := createJob(t, ts, "default", baseJob("j1"))
	j1.Status.Succeeded = 1
	if _, err := jobs.UpdateStatus(ctx, j1, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("job status: %v", err)
	}
	createJob(t, ts, "other", baseJob("j2"))

	evs := ts.Client.CoreV1().Events("default")
	for _, name := range []string{"e1", "e2"} {
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p-" + name}, Reason: "R-" + name, Type: corev1.EventTypeNormal}
		if _, err := evs.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create event: %v", err)
		}
	}

	podNames := func(ns string, opts metav1.ListOptions) []string {
		t.Helper()
		list, err := ts.Client.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			t.Fatalf("list pods %+v: %v", opts, err)
		}
		var out []string
		for _, p := range list.Items {
			out = append(out, p.Name)
		}
		return out
	}
	podCases := map[string]struct {
		ns   string
		opts metav1.ListOptions
		want []string
		bug  string
	}{
		"label equality":               {"default", metav1.ListOptions{LabelSelector: "app=a"}, []string{"p1"}, ""},
		"label set":                    {"default", metav1.ListOptions{LabelSelector: "app in (a,b)"}, []string{"p1", "p2"}, ""},
		"label does not exist":         {"default", metav1.ListOptions{LabelSelector: "!app"}, []string{"p3"}, ""},
		"label inequality":             {"default", metav1.ListOptions{LabelSelector: "app!=a"}, []string{"p2", "p3"}, ""},
		"two labels":                   {"default", metav1.ListOptions{LabelSelector: "app=a,tier=web"}, []string{"p1"}, ""},
		"spec.nodeName":                {"default", metav1.ListOptions{FieldSelector: "spec.nodeName=n1"}, []string{"p1"}, ""},
		"unscheduled":                  {"default", metav1.ListOptions{FieldSelector: "spec.nodeName="}, []string{"p3"}, ""},
		"status.phase":                 {"default", metav1.ListOptions{FieldSelector: "status.phase=Running"}, []string{"p2"}, ""},
		"status.phase not equal":       {"default", metav1.ListOptions{FieldSelector: "status.phase!=Running"}, []string{"p1", "p3"}, ""},
		"spec.restartPolicy":           {"default", metav1.ListOptions{FieldSelector: "spec.restartPolicy=OnFailure"}, []string{"p3"}, ""},
		"metadata.name":                {"default", metav1.ListOptions{FieldSelector: "metadata.name=p2"}, []string{"p2"}, ""},
		"metadata.name all namespaces": {"", metav1.ListOptions{FieldSelector: "metadata.name=p4"}, []string{"p4"}, ""},
		"label and field":              {"default", metav1.ListOptions{LabelSelector: "app", FieldSelector: "spec.nodeName!=n1"}, []string{"p2"}, ""},
		"all namespaces":               {"", metav1.ListOptions{}, []string{"p1", "p2", "p3", "p4"}, ""},
		"all namespaces by namespace":  {"", metav1.ListOptions{FieldSelector: "metadata.namespace=other"}, []string{"p4"}, ""},
	}
	for name, tc := range podCases {
		t.Run("pods "+name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip(tc.bug)
			}
			if diff := cmp.Diff(tc.want, podNames(tc.ns, tc.opts)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}

	jobNames := func(ns, fs string) []string {
		t.Helper()
		list, err := ts.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{FieldSelector: fs})
		if err != nil {
			t.Fatalf("list jobs %q: %v", fs, err)
		}
		var out []string
		for _, j := range list.Items {
			out = append(out, j.Name)
		}
		return out
	}
	t.Run("jobs status.successful", func(t *testing.T) {
		if diff := cmp.Diff([]string{"j1"}, jobNames("default", "status.successful=1")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"j0", "j2"}, jobNames("", "status.successful=0")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("jobs all namespaces raw", func(t *testing.T) {
		r := doJSON(t, ts, "GET", "/apis/batch/v1/jobs", "")
		if r.Code != 200 {
			t.Fatalf("code %d: %s", r.Code, r.Body)
		}
		var list batchv1.JobList
		r.into(t, &list)
		var got []string
		for _, j := range list.Items {
			got = append(got, j.Namespace+"/"+j.Name)
		}
		if diff := cmp.Diff([]string{"default/j0", "default/j1", "other/j2"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if list.Kind != "JobList" || list.APIVersion != "batch/v1" || list.ResourceVersion == "" {
			t.Errorf("list meta: kind %q apiVersion %q rv %q", list.Kind, list.APIVersion, list.ResourceVersion)
		}
	})
	t.Run("events involvedObject", func(t *testing.T) {
		list, err := evs.List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=p-e2,involvedObject.kind=Pod,reason=R-e2"})
		if err != nil {
			t.Fatalf("list events: %v", err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "e2" {
			t.Errorf("events: %d items, want e2 only", len(list.Items))
		}
	})

	badSelectors := map[string]struct {
		path    string
		message string
	}{
		"unsupported pod field":     {"/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx", "field label not supported: spec.foo"},
		"unsupported job field":     {"/apis/batch/v1/namespaces/default/jobs?fieldSelector=status.phase%3DRunning", "field label not supported: status.phase"},
		"unsupported on configmaps": {"/api/v1/namespaces/default/configmaps?fieldSelector=data.k%3Dv", "field label not supported: data.k"},
		"unsupported in watch":      {"/api/v1/namespaces/default/pods?watch=true&fieldSelector=spec.foo%3Dx", "field label not supported: spec.foo"},
		"malformed label selector":  {"/api/v1/namespaces/default/pods?labelSelector=a%20b", decodeListError(t, url.Values{"labelSelector": {"a b"}})},
		"malformed label value":     {"/api/v1/namespaces/default/pods?labelSelector=a%3D%25%25", decodeListError(t, url.Values{"labelSelector": {"a=%%"}})},
		"malformed field selector":  {"/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName", decodeListError(t, url.Values{"fieldSelector": {"spec.nodeName"}})},
	}
	for name, tc := range badSelectors {
		t.Run("400 "+name, func(t *testing.T) {
			r := doJSON(t, ts, "GET", tc.path, "")
			expectFailure(t, r, 400, metav1.StatusReasonBadRequest, tc.message)
			if _, ok := r.fields(t)["details"]; ok {
				t.Errorf("BadRequest carries details: %s", r.Body)
			}
		})
	}
}

// decodeListError is the message upstream's list handler answers for query
// parameters its parameter codec cannot decode.
func decodeListError(t *testing.T, q url.Values) string {
	t.Helper()
	opts := &metainternalversion.ListOptions{}
	err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, opts)
	if err == nil {
		t.Fatalf("query %v decodes without error", q)
	}
	return err.Error()
}
