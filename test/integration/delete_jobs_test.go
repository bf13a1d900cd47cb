package integration

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// Spec §10 B (items 30-57): status codes, bodies and persisted state for
// Jobs, API server only (no controllers run in the test server).

// watchJob watches one job from its current resourceVersion.
func watchJob(t *testing.T, ts *testserver.Server, j *batchv1.Job) watch.Interface {
	t.Helper()
	w, err := ts.Client.BatchV1().Jobs("default").Watch(testCtx(t), metav1.ListOptions{FieldSelector: "metadata.namespace=default", ResourceVersion: j.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// nextJobEvent returns the next event about the named job.
func nextJobEvent(t *testing.T, w watch.Interface, name string) seen {
	t.Helper()
	for {
		s := nextSeen(t, w)
		if s.Name == name {
			return s
		}
	}
}

func TestDeleteJobs_RepeatedDeletes(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	j := createJob(t, ts, "default", baseJob("pi"))
	w := watchJob(t, ts, j)

	// 30: plain DELETE marks the job with the orphan finalizer.
	r := deleteJob(t, ts, "pi", "", "", "")
	first := expectJobBody(t, r, 200, []string{"orphan"})
	expectJobWarning(t, r, true)
	if first.Generation != j.Generation+1 || first.ResourceVersion == j.ResourceVersion {
		t.Errorf("30: generation %d rv %s, want %d and a new rv", first.Generation, first.ResourceVersion, j.Generation+1)
	}
	if s := nextJobEvent(t, w, "pi"); s.Type != watch.Modified || s.RV != first.ResourceVersion {
		t.Errorf("30: event %+v, want MODIFIED at %s", s, first.ResourceVersion)
	}

	// 31: the same DELETE again writes nothing.
	r = deleteJob(t, ts, "pi", "", "", "")
	again := expectJobBody(t, r, 200, []string{"orphan"})
	expectJobWarning(t, r, true)
	if again.ResourceVersion != first.ResourceVersion || !again.DeletionTimestamp.Equal(first.DeletionTimestamp) {
		t.Errorf("31: rv %s deletionTimestamp %v, want unchanged %s %v", again.ResourceVersion, again.DeletionTimestamp, first.ResourceVersion, first.DeletionTimestamp)
	}

	// 32: Foreground swaps the finalizer: one write, same timestamp and generation.
	r = deleteJob(t, ts, "pi", "?propagationPolicy=Foreground", "", "")
	fg := expectJobBody(t, r, 200, []string{"foregroundDeletion"})
	expectJobWarning(t, r, false)
	if fg.ResourceVersion == first.ResourceVersion || !fg.DeletionTimestamp.Equal(first.DeletionTimestamp) || fg.Generation != first.Generation {
		t.Errorf("32: rv %s ts %v gen %d; want a new rv, ts %v, gen %d", fg.ResourceVersion, fg.DeletionTimestamp, fg.Generation, first.DeletionTimestamp, first.Generation)
	}
	// The next event is the swap, so the repeated delete (31) emitted none.
	if s := nextJobEvent(t, w, "pi"); s.Type != watch.Modified || s.RV != fg.ResourceVersion {
		t.Errorf("31/32: next event %+v, want MODIFIED at %s (no event for the repeated delete)", s, fg.ResourceVersion)
	}

	// 33: Background removes the GC finalizers and deletes at once.
	r = deleteJob(t, ts, "pi", "?propagationPolicy=Background", "", "")
	expectSuccessStatus(t, r, "pi", string(j.UID))
	expectJobGone(t, ts, "default", "pi")
	if s := nextJobEvent(t, w, "pi"); s.Type != watch.Deleted {
		t.Errorf("33: event %+v, want DELETED", s)
	}
}

func TestDeleteJobs_FreshJobs(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	t.Run("34 Background: Status and a single DELETED", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j34"))
		w := watchJob(t, ts, j)
		r := deleteJob(t, ts, j.Name, "?propagationPolicy=Background", "", "")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectJobWarning(t, r, false)
		s := nextJobEvent(t, w, j.Name)
		if s.Type != watch.Deleted || mustAtoi(t, s.RV) <= mustAtoi(t, j.ResourceVersion) {
			t.Errorf("event %+v, want DELETED after %s", s, j.ResourceVersion)
		}
		// A marker proves no second event for j34 came in between.
		m := createJob(t, ts, "default", baseJob("j34-marker"))
		if s := nextSeen(t, w); s.Name != m.Name || s.Type != watch.Added {
			t.Errorf("after DELETED: %+v, want ADDED j34-marker", s)
		}
	})
	marks := map[string]struct {
		query      string
		finalizers []string
		warn       bool
	}{
		"35 Orphan":                 {"?propagationPolicy=Orphan", []string{"orphan"}, false},
		"36 orphanDependents=true":  {"?orphanDependents=true", []string{"orphan"}, false},
		"38 Foreground":             {"?propagationPolicy=Foreground", []string{"foregroundDeletion"}, false},
		"47 gracePeriodSeconds=0":   {"?gracePeriodSeconds=0", []string{"orphan"}, true},
		"gracePeriodSeconds=30 too": {"?gracePeriodSeconds=30", []string{"orphan"}, true},
	}
	for name, tc := range marks {
		t.Run(name, func(t *testing.T) {
			j := createJob(t, ts, "default", baseJob(jobName(name)))
			r := deleteJob(t, ts, j.Name, tc.query, "", "")
			out := expectJobBody(t, r, 200, tc.finalizers)
			expectJobWarning(t, r, tc.warn)
			got := getJob(t, ts, "default", j.Name)
			if got.ResourceVersion != out.ResourceVersion || got.DeletionTimestamp == nil || got.Generation != j.Generation+1 {
				t.Errorf("stored: rv %s ts %v gen %d; want rv %s, set, gen %d", got.ResourceVersion, got.DeletionTimestamp, got.Generation, out.ResourceVersion, j.Generation+1)
			}
		})
	}
	t.Run("37 orphanDependents=false deletes at once: 200 Status", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j37"))
		r := deleteJob(t, ts, j.Name, "?orphanDependents=false", "", "")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectJobWarning(t, r, false)
		expectJobGone(t, ts, "default", j.Name)
	})
	t.Run("45 dryRun with Background: Status, job kept", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j45"))
		r := deleteJob(t, ts, j.Name, "?dryRun=All&propagationPolicy=Background", "", "")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectUnchanged(t, ts, j)
	})
}

func TestDeleteJobs_CustomFinalizer(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	job := baseJob("f1")
	job.Finalizers = []string{"example.com/hold"}
	j := createJob(t, ts, "default", job)
	w := watchJob(t, ts, j)

	// 39: orphanDependents=false with a finalizer that keeps the job: 202.
	r := deleteJob(t, ts, "f1", "?orphanDependents=false", "", "")
	first := expectJobBody(t, r, 202, []string{"example.com/hold"})
	expectJobWarning(t, r, false)
	// 40, 41: the GC finalizer is appended after the custom one, then swapped.
	r = deleteJob(t, ts, "f1", "?orphanDependents=true", "", "")
	expectJobBody(t, r, 200, []string{"example.com/hold", "orphan"})
	r = deleteJob(t, ts, "f1", "?propagationPolicy=Foreground", "", "")
	fg := expectJobBody(t, r, 200, []string{"example.com/hold", "foregroundDeletion"})
	if !fg.DeletionTimestamp.Equal(first.DeletionTimestamp) || fg.Generation != first.Generation {
		t.Errorf("deletionTimestamp %v gen %d moved from %v %d", fg.DeletionTimestamp, fg.Generation, first.DeletionTimestamp, first.Generation)
	}

	// 42: no new finalizers on a deleting object.
	r = do(t, ts, request{Method: "PATCH", Path: jobPath("f1"), Body: `{"metadata":{"finalizers":["example.com/hold","example.com/new"]}}`, ContentType: "application/merge-patch+json"})
	st := expectFailure(t, r, 422, metav1.StatusReasonInvalid,
		`Job.batch "f1" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/new"}`)
	if st.Details == nil || st.Details.Name != "f1" || st.Details.Group != "batch" || st.Details.Kind != "Job" {
		t.Errorf("details %+v", st.Details)
	}
	// An update cannot move deletionTimestamp: upstream's BeforeUpdate
	// silently keeps the old one, so the update is a no-op.
	cur := getJob(t, ts, "default", "f1")
	later := metav1.NewTime(cur.DeletionTimestamp.Add(time.Hour))
	cur.DeletionTimestamp = &later
	upd, err := ts.Client.BatchV1().Jobs("default").Update(testCtx(t), cur, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update with a moved deletionTimestamp: %v", err)
	}
	if !upd.DeletionTimestamp.Equal(fg.DeletionTimestamp) || upd.ResourceVersion != fg.ResourceVersion {
		t.Errorf("update: deletionTimestamp %v rv %s, want %v and no write (%s)", upd.DeletionTimestamp, upd.ResourceVersion, fg.DeletionTimestamp, fg.ResourceVersion)
	}

	// 43: removing the last finalizers deletes the job; the body is the object as submitted.
	before := getJob(t, ts, "default", "f1")
	r = do(t, ts, request{Method: "PATCH", Path: jobPath("f1"), Body: `{"metadata":{"finalizers":null}}`, ContentType: "application/merge-patch+json"})
	out := expectJobBody(t, r, 200, nil)
	expectJobGone(t, ts, "default", "f1")
	var types []watch.EventType
	for {
		s := nextJobEvent(t, w, "f1")
		types = append(types, s.Type)
		if s.Type == watch.Deleted {
			break
		}
	}
	t.Run("43 deletes without an intermediate write", func(t *testing.T) {
		if out.ResourceVersion != before.ResourceVersion {
			t.Errorf("43: body rv %s, want the previous %s", out.ResourceVersion, before.ResourceVersion)
		}
		// 39 marks, 40 adds orphan, 41 swaps (MODIFIED each); 43 deletes.
		if diff := cmp.Diff([]watch.EventType{watch.Modified, watch.Modified, watch.Modified, watch.Deleted}, types); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestDeleteJobs_PathsAndCollections(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	createJob(t, ts, "default", baseJob("x1"))
	createJob(t, ts, "default", baseJob("x2"))

	t.Run("48 missing namespace: 404", func(t *testing.T) {
		r := do(t, ts, request{Method: "DELETE", Path: "/apis/batch/v1/namespaces/nope/jobs/x?propagationPolicy=Background"})
		expectFailure(t, r, 404, metav1.StatusReasonNotFound, `jobs.batch "x" not found`)
	})
	t.Run("49 name with %: 400", func(t *testing.T) {
		r := deleteJob(t, ts, "a%25b", "", "", "")
		expectFailure(t, r, 400, metav1.StatusReasonBadRequest, `Name parameter invalid: "a%b": may not contain '%'`)
	})
	t.Run("50 upper-case name: 404", func(t *testing.T) {
		r := deleteJob(t, ts, "UPPER", "", "", "")
		expectFailure(t, r, 404, metav1.StatusReasonNotFound, `jobs.batch "UPPER" not found`)
	})
	t.Run("51 deletecollection dry run: the list as listed, W", func(t *testing.T) {
		r := do(t, ts, request{Method: "DELETE", Path: jobsPath + "?labelSelector=job-name%3Dx1&dryRun=All"})
		if r.Code != 200 {
			t.Fatalf("code %d: %s", r.Code, r.Body)
		}
		var list batchv1.JobList
		r.into(t, &list)
		if list.Kind != "JobList" || list.APIVersion != "batch/v1" || list.ResourceVersion == "" || len(list.Items) != 1 || list.Items[0].Name != "x1" {
			t.Errorf("list %s %s rv %q items %d", list.Kind, list.APIVersion, list.ResourceVersion, len(list.Items))
		}
		expectJobWarning(t, r, true)
		if got := getJob(t, ts, "default", "x1"); got.DeletionTimestamp != nil {
			t.Errorf("dry-run deletecollection marked x1")
		}
		r = do(t, ts, request{Method: "DELETE", Path: jobsPath + "?labelSelector=job-name%3Dnone&dryRun=All"})
		if r.Code != 200 {
			t.Fatalf("code %d: %s", r.Code, r.Body)
		}
		items, ok := r.fields(t)["items"].([]any)
		if !ok || len(items) != 0 {
			t.Errorf("items = %v, want []", r.fields(t)["items"])
		}
	})
	t.Run("deletecollection for real", func(t *testing.T) {
		createJob(t, ts, "default", baseJob("y1"))
		r := do(t, ts, request{Method: "DELETE", Path: jobsPath + "?labelSelector=job-name%3Dy1&propagationPolicy=Background"})
		if r.Code != 200 {
			t.Fatalf("code %d: %s", r.Code, r.Body)
		}
		expectJobWarning(t, r, false)
		expectJobGone(t, ts, "default", "y1")
		getJob(t, ts, "default", "x2")
	})
	t.Run("deletecollection with ignoreStoreReadError: 422", func(t *testing.T) {
		r := do(t, ts, request{Method: "DELETE", Path: jobsPath + "?ignoreStoreReadErrorWithClusterBreakingPotential=true"})
		if r.Code != 422 || r.status(t).Reason != metav1.StatusReasonInvalid {
			t.Errorf("code %d: %s", r.Code, r.Body)
		}
	})
	t.Run("52 DELETE on status: 405 without Allow", func(t *testing.T) {
		r := deleteJob(t, ts, "x1/status", "", "", "")
		expectFailure(t, r, 405, metav1.StatusReasonMethodNotAllowed, methodMsg)
		if a := r.Header.Values("Allow"); len(a) != 0 {
			t.Errorf("Allow header %q", a)
		}
	})
	t.Run("54 unknown routes: 404", func(t *testing.T) {
		for _, p := range []string{"/apis/batch/v1/namespaces/default/jobx/pi", "/apis/batch/v2/namespaces/default/jobs/pi", jobPath("x1/foo")} {
			r := do(t, ts, request{Method: "DELETE", Path: p})
			expectFailure(t, r, 404, metav1.StatusReasonNotFound, notFoundMsg)
		}
	})
	t.Run("55 Accept text/html: 406", func(t *testing.T) {
		r := do(t, ts, request{Method: "DELETE", Path: jobPath("x1") + "?dryRun=All", Accept: "text/html"})
		expectFailure(t, r, 406, metav1.StatusReasonNotAcceptable, acceptMsg)
	})
	t.Run("56 timeout=1ns: 504", func(t *testing.T) {
		t.Skip("server bug: ?timeout= is not honoured (no timeout filter); upstream answers 504 Timeout")
		r := deleteJob(t, ts, "x1", "?timeout=1ns&dryRun=All", "", "")
		if r.Code != 504 {
			t.Fatalf("code %d: %s", r.Code, r.Body)
		}
		var st metav1.Status
		r.into(t, &st)
		if st.Reason != metav1.StatusReasonTimeout {
			t.Errorf("reason %s", st.Reason)
		}
	})
	t.Run("57 timeout=abc: 400", func(t *testing.T) {
		t.Skip("server bug: ?timeout= is not parsed (no timeout filter)")
		r := deleteJob(t, ts, "x1", "?timeout=abc", "", "")
		expectFailure(t, r, 400, metav1.StatusReasonBadRequest, `invalid timeout specified in the request URL - time: invalid duration "abc"`)
	})
}
