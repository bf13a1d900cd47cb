package integration

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// Spec §10 E (items 97-107): graceful deletion of pods, API server only.

const podsPath = "/api/v1/namespaces/default/pods"

func createPod(t *testing.T, ts *testserver.Server, name, node string, mutate func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := basePod(name)
	p.Spec.NodeName = node
	if mutate != nil {
		mutate(p)
	}
	out, err := ts.Client.CoreV1().Pods("default").Create(testCtx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return out
}

// deletePod sends DELETE and decodes the Pod body every pod delete returns.
func deletePod(t *testing.T, ts *testserver.Server, name, query string, code int) *corev1.Pod {
	t.Helper()
	r := do(t, ts, request{Method: "DELETE", Path: podsPath + "/" + name + query})
	if r.Code != code {
		t.Fatalf("DELETE %s%s: code %d, want %d: %s", name, query, r.Code, code, r.Body)
	}
	var p corev1.Pod
	r.into(t, &p)
	if p.Kind != "Pod" || p.Name != name {
		t.Fatalf("body is not pod %s: %s", name, r.Body)
	}
	if len(r.warnings()) != 0 {
		t.Errorf("warnings on a pod delete: %q", r.warnings())
	}
	return &p
}

func expectPodGone(t *testing.T, ts *testserver.Server, name string) {
	t.Helper()
	r := doJSON(t, ts, "GET", podsPath+"/"+name, "")
	st := expectFailure(t, r, 404, metav1.StatusReasonNotFound, `pods "`+name+`" not found`)
	if diff := cmp.Diff(&metav1.StatusDetails{Name: name, Kind: "pods"}, st.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}

func grace(p *corev1.Pod) int64 {
	if p.DeletionGracePeriodSeconds == nil {
		return -1
	}
	return *p.DeletionGracePeriodSeconds
}

func TestDeletePods_GracefulSequence(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	created := createPod(t, ts, "p1", "fake-node", nil)
	w, err := ts.Client.CoreV1().Pods("default").Watch(testCtx(t), metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// 97: the default grace of 30 s.
	before := time.Now()
	p := deletePod(t, ts, "p1", "", 200)
	if grace(p) != 30 || p.DeletionTimestamp == nil || p.Generation != created.Generation+1 {
		t.Fatalf("97: grace %d deletionTimestamp %v generation %d, want 30, set, %d", grace(p), p.DeletionTimestamp, p.Generation, created.Generation+1)
	}
	if d := p.DeletionTimestamp.Sub(before.Truncate(time.Second)); d < 29*time.Second || d > 32*time.Second {
		t.Errorf("97: deletionTimestamp %v is %s after the request, want about 30s", p.DeletionTimestamp, d)
	}
	first := p

	// 98, 99: no options, or a longer grace, change nothing.
	for _, q := range []string{"", "?gracePeriodSeconds=100", "?gracePeriodSeconds=30"} {
		p = deletePod(t, ts, "p1", q, 200)
		if p.ResourceVersion != first.ResourceVersion || grace(p) != 30 || !p.DeletionTimestamp.Equal(first.DeletionTimestamp) {
			t.Errorf("98/99 %q: rv %s grace %d ts %v, want unchanged", q, p.ResourceVersion, grace(p), p.DeletionTimestamp)
		}
	}

	// 100: a shorter grace moves the deadline earlier by the difference.
	p = deletePod(t, ts, "p1", "?gracePeriodSeconds=10", 200)
	if grace(p) != 10 || !p.DeletionTimestamp.Equal(&metav1.Time{Time: first.DeletionTimestamp.Add(-20 * time.Second)}) {
		t.Errorf("100: grace %d ts %v, want 10 and %v", grace(p), p.DeletionTimestamp, first.DeletionTimestamp.Add(-20*time.Second))
	}
	shortened := p

	// 101: orphanDependents=false on a pending deletion: 202, unchanged.
	p = deletePod(t, ts, "p1", "?orphanDependents=false", 202)
	if p.ResourceVersion != shortened.ResourceVersion || grace(p) != 10 {
		t.Errorf("101: rv %s grace %d, want %s and 10", p.ResourceVersion, grace(p), shortened.ResourceVersion)
	}

	// 102: grace 0 deletes; the body carries the deletion revision.
	p = deletePod(t, ts, "p1", "?gracePeriodSeconds=0", 200)
	if mustAtoi(t, p.ResourceVersion) <= mustAtoi(t, shortened.ResourceVersion) {
		t.Errorf("102: rv %s, want the deletion revision after %s", p.ResourceVersion, shortened.ResourceVersion)
	}
	expectPodGone(t, ts, "p1")
	var events []watch.EventType
	for {
		s := nextSeen(t, w)
		events = append(events, s.Type)
		if s.Type == watch.Deleted {
			if s.RV != p.ResourceVersion {
				t.Errorf("DELETED at %s, response rv %s", s.RV, p.ResourceVersion)
			}
			break
		}
	}
	// 97 marks, 100 shortens, 102 sets grace 0 then deletes.
	if diff := cmp.Diff([]watch.EventType{watch.Modified, watch.Modified, watch.Modified, watch.Deleted}, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestDeletePods_ImmediateCases(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	t.Run("103 negative grace becomes 1", func(t *testing.T) {
		createPod(t, ts, "p103", "fake-node", nil)
		if p := deletePod(t, ts, "p103", "?gracePeriodSeconds=-1", 200); grace(p) != 1 {
			t.Errorf("grace %d, want 1", grace(p))
		}
		if got, err := ts.Client.CoreV1().Pods("default").Get(testCtx(t), "p103", metav1.GetOptions{}); err != nil || grace(got) != 1 {
			t.Errorf("stored pod: %v %v", got, err)
		}
	})
	t.Run("104 terminationGracePeriodSeconds 0", func(t *testing.T) {
		createPod(t, ts, "p104", "fake-node", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](0) })
		if p := deletePod(t, ts, "p104", "", 200); grace(p) != 0 {
			t.Errorf("grace %d, want 0", grace(p))
		}
		expectPodGone(t, ts, "p104")
	})
	t.Run("105 unscheduled pod: MODIFIED then DELETED", func(t *testing.T) {
		c := createPod(t, ts, "p105", "", nil)
		w, err := ts.Client.CoreV1().Pods("default").Watch(testCtx(t), metav1.ListOptions{FieldSelector: "metadata.name=p105", ResourceVersion: c.ResourceVersion})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()
		p := deletePod(t, ts, "p105", "?gracePeriodSeconds=60", 200)
		if grace(p) != 0 {
			t.Errorf("grace %d, want 0 for an unscheduled pod", grace(p))
		}
		expectPodGone(t, ts, "p105")
		m, d := nextSeen(t, w), nextSeen(t, w)
		if m.Type != watch.Modified || d.Type != watch.Deleted || d.RV != p.ResourceVersion {
			t.Errorf("events %+v %+v, want MODIFIED then DELETED at %s", m, d, p.ResourceVersion)
		}
	})
	t.Run("106 succeeded pod", func(t *testing.T) {
		c := createPod(t, ts, "p106", "fake-node", nil)
		c.Status.Phase = corev1.PodSucceeded
		if _, err := ts.Client.CoreV1().Pods("default").UpdateStatus(testCtx(t), c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deletePod(t, ts, "p106", "", 200)
		expectPodGone(t, ts, "p106")
	})
	t.Run("pod with a finalizer stays after grace 0", func(t *testing.T) {
		createPod(t, ts, "pfin", "", func(p *corev1.Pod) { p.Finalizers = []string{"batch.kubernetes.io/job-tracking"} })
		p := deletePod(t, ts, "pfin", "?gracePeriodSeconds=0", 200)
		if grace(p) != 0 || p.DeletionTimestamp == nil {
			t.Errorf("grace %d ts %v", grace(p), p.DeletionTimestamp)
		}
		r := do(t, ts, request{Method: "PATCH", Path: podsPath + "/pfin", Body: `{"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}`, ContentType: "application/strategic-merge-patch+json"})
		if r.Code != 200 {
			t.Fatalf("patch: %d %s", r.Code, r.Body)
		}
		expectPodGone(t, ts, "pfin")
	})
	t.Run("107 the API server never expires a deadline", func(t *testing.T) {
		createPod(t, ts, "p107", "fake-node", nil)
		p := deletePod(t, ts, "p107", "?gracePeriodSeconds=1", 200)
		deadline := p.DeletionTimestamp.Add(1500 * time.Millisecond)
		testserver.PollUntil(t, 10*time.Second, func() (bool, error) {
			if _, err := ts.Client.CoreV1().Pods("default").Get(testCtx(t), "p107", metav1.GetOptions{}); err != nil {
				t.Fatalf("pod gone after its deadline: %v", err)
			}
			return time.Now().After(deadline), nil
		})
	})
}
