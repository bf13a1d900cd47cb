package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// Spec §10 A (items 1-29): DeleteOptions parsing and validation, on Jobs.

func jobPath(name string) string { return jobsPath + "/" + name }

// deleteJob sends DELETE to a job with an optional body.
func deleteJob(t testing.TB, ts *testserver.Server, name, query, body, ct string) response {
	t.Helper()
	return do(t, ts, request{Method: "DELETE", Path: jobPath(name) + query, Body: body, ContentType: ct})
}

// expectJobBody checks a 200/202 answer carrying the Job and returns it.
func expectJobBody(t testing.TB, r response, code int, finalizers []string) *batchv1.Job {
	t.Helper()
	if r.Code != code {
		t.Fatalf("code %d, want %d: %s", r.Code, code, r.Body)
	}
	var j batchv1.Job
	r.into(t, &j)
	if j.Kind != "Job" || j.APIVersion != "batch/v1" {
		t.Fatalf("body kind %q apiVersion %q, want a batch/v1 Job: %s", j.Kind, j.APIVersion, r.Body)
	}
	if diff := cmp.Diff(finalizers, j.Finalizers); diff != "" {
		t.Errorf("finalizers (-want +got):\n%s", diff)
	}
	if len(finalizers) > 0 && (j.DeletionTimestamp == nil || j.DeletionGracePeriodSeconds == nil || *j.DeletionGracePeriodSeconds != 0) {
		t.Errorf("deletionTimestamp %v deletionGracePeriodSeconds %v, want set and 0", j.DeletionTimestamp, j.DeletionGracePeriodSeconds)
	}
	return &j
}

// expectSuccessStatus checks upstream's body for an immediately deleted Job.
func expectSuccessStatus(t testing.TB, r response, name, uid string) {
	t.Helper()
	if r.Code != 200 {
		t.Fatalf("code %d, want 200: %s", r.Code, r.Body)
	}
	want := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Success",
		"details": map[string]any{"name": name, "group": "batch", "kind": "jobs", "uid": uid},
	}
	if diff := cmp.Diff(want, r.fields(t)); diff != "" {
		t.Errorf("Status body (-want +got):\n%s", diff)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// expectUnchanged checks that a job still has the given resourceVersion and
// no deletionTimestamp.
func expectUnchanged(t testing.TB, ts *testserver.Server, j *batchv1.Job) {
	t.Helper()
	got := getJob(t, ts, "default", j.Name)
	if got.ResourceVersion != j.ResourceVersion || got.DeletionTimestamp != nil || got.Generation != j.Generation || len(got.Finalizers) != len(j.Finalizers) {
		t.Errorf("job %s changed: rv %s→%s deletionTimestamp %v generation %d→%d finalizers %v",
			j.Name, j.ResourceVersion, got.ResourceVersion, got.DeletionTimestamp, j.Generation, got.Generation, got.Finalizers)
	}
}

func invalidOptions(field, msg string) (string, string) {
	return `DeleteOptions.meta.k8s.io "" is invalid: ` + field + ": " + msg, msg
}

func TestDeleteOptions_ValidationAndParsing(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	const supported = `supported values: "Foreground", "Background", "Orphan", "nil"`

	t.Run("1 missing job, no options: 404 with W", func(t *testing.T) {
		r := deleteJob(t, ts, "pi", "", "", "")
		st := expectFailure(t, r, 404, metav1.StatusReasonNotFound, `jobs.batch "pi" not found`)
		if diff := cmp.Diff(&metav1.StatusDetails{Name: "pi", Group: "batch", Kind: "jobs"}, st.Details); diff != "" {
			t.Errorf("details (-want +got):\n%s", diff)
		}
		expectJobWarning(t, r, true)
	})
	t.Run("2 missing job, Background: 404 without W", func(t *testing.T) {
		r := deleteJob(t, ts, "pi", "?propagationPolicy=Background", "", "")
		expectFailure(t, r, 404, metav1.StatusReasonNotFound, `jobs.batch "pi" not found`)
		expectJobWarning(t, r, false)
	})

	invalid := map[string]struct {
		query, field, msg string
		causeType         metav1.CauseType
	}{
		"3 unknown policy":    {"?propagationPolicy=Foo", "propagationPolicy", `Unsupported value: "Foo": ` + supported, metav1.CauseTypeFieldValueNotSupported},
		"4 lower-case policy": {"?propagationPolicy=foreground", "propagationPolicy", `Unsupported value: "foreground": ` + supported, metav1.CauseTypeFieldValueNotSupported},
		"5 empty policy":      {"?propagationPolicy=", "propagationPolicy", `Unsupported value: "": ` + supported, metav1.CauseTypeFieldValueNotSupported},
		"6 orphan and policy": {"?orphanDependents=true&propagationPolicy=Background", "propagationPolicy", `Invalid value: "Background": orphanDependents and deletionPropagation cannot be both set`, metav1.CauseTypeFieldValueInvalid},
		"7 unknown dryRun":    {"?dryRun=Foo", "dryRun", `Unsupported value: ["Foo"]: supported values: "All"`, metav1.CauseTypeFieldValueNotSupported},
		"8 empty dryRun":      {"?dryRun=", "dryRun", `Unsupported value: [""]: supported values: "All"`, metav1.CauseTypeFieldValueNotSupported},
		"9 repeated dryRun":   {"?dryRun=All&dryRun=Foo", "dryRun", `Unsupported value: ["All","Foo"]: supported values: "All"`, metav1.CauseTypeFieldValueNotSupported},
		"ignoreStoreReadError with policy": {"?ignoreStoreReadErrorWithClusterBreakingPotential=true&propagationPolicy=Orphan", "ignoreStoreReadErrorWithClusterBreakingPotential",
			`Invalid value: true: cannot be set together with .propagationPolicy`, metav1.CauseTypeFieldValueInvalid},
	}
	for name, tc := range invalid {
		t.Run(name+": 422", func(t *testing.T) {
			j := createJob(t, ts, "default", baseJob(jobName(name)))
			r := deleteJob(t, ts, j.Name, tc.query, "", "")
			message, causeMsg := invalidOptions(tc.field, tc.msg)
			st := expectFailure(t, r, 422, metav1.StatusReasonInvalid, message)
			want := &metav1.StatusDetails{Group: "meta.k8s.io", Kind: "DeleteOptions", Causes: []metav1.StatusCause{{Type: tc.causeType, Message: causeMsg, Field: tc.field}}}
			if diff := cmp.Diff(want, st.Details); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			expectJobWarning(t, r, false)
			expectUnchanged(t, ts, j)
		})
	}

	t.Run("10 unparsable gracePeriodSeconds: 400", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("o10"))
		r := deleteJob(t, ts, j.Name, "?gracePeriodSeconds=abc", "", "")
		expectFailure(t, r, 400, metav1.StatusReasonBadRequest, `strconv.ParseInt: parsing "abc": invalid syntax`)
		if _, ok := r.fields(t)["details"]; ok {
			t.Errorf("details present: %s", r.Body)
		}
		expectJobWarning(t, r, false)
		expectUnchanged(t, ts, j)
	})

	dryRuns := map[string]struct {
		query, body, ct string
		finalizers      []string
		warn            bool
	}{
		"11 orphanDependents=xyz means true":  {"?orphanDependents=xyz&dryRun=All", "", "", []string{"orphan"}, false},
		"12 negative grace is not an error":   {"?gracePeriodSeconds=-5&dryRun=All", "", "", []string{"orphan"}, true},
		"13 body without kind":                {"", `{"dryRun":["All"],"propagationPolicy":"Foreground"}`, "application/json", []string{"foregroundDeletion"}, false},
		"14 kind with apiVersion batch/v1":    {"", `{"kind":"DeleteOptions","apiVersion":"batch/v1","dryRun":["All"],"propagationPolicy":"Foreground"}`, "application/json", []string{"foregroundDeletion"}, false},
		"14 kind with apiVersion v1":          {"", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Foreground"}`, "application/json", []string{"foregroundDeletion"}, false},
		"14 kind with meta.k8s.io/v1":         {"", `{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1","dryRun":["All"],"propagationPolicy":"Foreground"}`, "application/json", []string{"foregroundDeletion"}, false},
		"14 kind with a made-up apiVersion":   {"", `{"kind":"DeleteOptions","apiVersion":"foo.example/v9","dryRun":["All"],"propagationPolicy":"Foreground"}`, "application/json", []string{"foregroundDeletion"}, false},
		"18 unknown body fields are ignored":  {"", `{"dryRun":["All"],"bogus":1}`, "application/json", []string{"orphan"}, true},
		"25 YAML body":                        {"", "dryRun: [All]\npropagationPolicy: Foreground\n", "application/yaml", []string{"foregroundDeletion"}, false},
		"44 dryRun alone":                     {"?dryRun=All", "", "", []string{"orphan"}, true},
		"46 dryRun with Foreground":           {"?dryRun=All&propagationPolicy=Foreground", "", "", []string{"foregroundDeletion"}, false},
		"dryRun with orphanDependents=true":   {"?dryRun=All&orphanDependents=true", "", "", []string{"orphan"}, false},
		"dryRun with empty Content-Type body": {"", `{"dryRun":["All"]}`, "", []string{"orphan"}, true},
	}
	for name, tc := range dryRuns {
		t.Run(name+": 200 Job, nothing persisted", func(t *testing.T) {
			j := createJob(t, ts, "default", baseJob(jobName(name)))
			r := deleteJob(t, ts, j.Name, tc.query, tc.body, tc.ct)
			out := expectJobBody(t, r, 200, tc.finalizers)
			if out.ResourceVersion != j.ResourceVersion || out.Generation != j.Generation+1 {
				t.Errorf("dry-run body rv %s generation %d, want the stored rv %s and generation %d", out.ResourceVersion, out.Generation, j.ResourceVersion, j.Generation+1)
			}
			expectJobWarning(t, r, tc.warn)
			expectUnchanged(t, ts, j)
		})
	}

	badBodies := map[string]struct {
		body, ct, message string
		prefix            bool
	}{
		"15 body of kind Job":   {`{"kind":"Job","apiVersion":"batch/v1"}`, "application/json", `no kind "Job" is registered for version "batch/v1" in scheme `, true},
		"kind ListOptions":      {`{"kind":"ListOptions","apiVersion":"meta.k8s.io/v1"}`, "application/json", `converting (v1.ListOptions) to (v1.DeleteOptions): unknown conversion`, false},
		"16 body not JSON":      {`not json`, "application/json", `couldn't get version/kind; json parse error: invalid character 'o' in literal null (expecting 'u')`, false},
		"17 dryRun not a list":  {`{"dryRun":"All"}`, "application/json", `json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string`, false},
		"dryRun not a list yml": {"dryRun: All\n", "application/yaml", `json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string`, false},
	}
	for name, tc := range badBodies {
		t.Run(name+": 400", func(t *testing.T) {
			j := createJob(t, ts, "default", baseJob(jobName(name)))
			r := deleteJob(t, ts, j.Name, "", tc.body, tc.ct)
			if r.Code != 400 {
				t.Fatalf("code %d, want 400: %s", r.Code, r.Body)
			}
			st := r.status(t)
			if st.Reason != metav1.StatusReasonBadRequest || (tc.prefix && !strings.HasPrefix(st.Message, tc.message)) || (!tc.prefix && st.Message != tc.message) {
				t.Errorf("status %s %q, want BadRequest %q", st.Reason, st.Message, tc.message)
			}
			expectJobWarning(t, r, false)
			expectUnchanged(t, ts, j)
		})
	}

	t.Run("19 body {} wins over the query: real orphan deletion", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("o19"))
		r := deleteJob(t, ts, j.Name, "?dryRun=All&propagationPolicy=Background", "{}", "application/json")
		expectJobBody(t, r, 200, []string{"orphan"})
		expectJobWarning(t, r, true)
		if got := getJob(t, ts, "default", j.Name); got.DeletionTimestamp == nil {
			t.Errorf("the deletion was not persisted")
		}
	})
	t.Run("20 body null wins over the query", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("o20"))
		r := deleteJob(t, ts, j.Name, "?dryRun=All", "null", "application/json")
		expectJobBody(t, r, 200, []string{"orphan"})
		expectJobWarning(t, r, true)
		if got := getJob(t, ts, "default", j.Name); got.DeletionTimestamp == nil || len(got.Finalizers) != 1 {
			t.Errorf("the deletion was not persisted: %v %v", got.DeletionTimestamp, got.Finalizers)
		}
	})
	t.Run("21 invalid query ignored when a body is given", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("o21"))
		r := deleteJob(t, ts, j.Name, "?gracePeriodSeconds=abc&propagationPolicy=Bogus", `{"dryRun":["All"],"propagationPolicy":"Background"}`, "application/json")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectJobWarning(t, r, false)
		expectUnchanged(t, ts, j)
	})
	t.Run("22 empty body: the query is used", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("o22"))
		r := deleteJob(t, ts, j.Name, "?dryRun=All&propagationPolicy=Background", "", "application/json")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectUnchanged(t, ts, j)
	})
	for name, ct := range map[string]string{"23 text/plain": "text/plain", "24 form": "application/x-www-form-urlencoded"} {
		t.Run(name+" body: 415", func(t *testing.T) {
			j := createJob(t, ts, "default", baseJob(jobName(name)))
			r := deleteJob(t, ts, j.Name, "", `{"dryRun":["All"]}`, ct)
			expectFailure(t, r, 415, metav1.StatusReasonUnsupportedMediaType, mediaMsg)
			if _, ok := r.fields(t)["details"]; ok {
				t.Errorf("details present: %s", r.Body)
			}
			expectJobWarning(t, r, false)
			expectUnchanged(t, ts, j)
		})
	}
	t.Run("26 UID precondition: 409", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j1"))
		r := deleteJob(t, ts, j.Name, "", `{"dryRun":["All"],"preconditions":{"uid":"x"}}`, "application/json")
		st := expectFailure(t, r, 409, metav1.StatusReasonConflict, fmt.Sprintf(
			`Operation cannot be fulfilled on Job.batch "j1": the UID in the precondition (x) does not match the UID in record (%s). The object might have been deleted and then recreated`, j.UID))
		if diff := cmp.Diff(&metav1.StatusDetails{Name: "j1", Group: "batch", Kind: "Job"}, st.Details); diff != "" {
			t.Errorf("details (-want +got):\n%s", diff)
		}
		expectJobWarning(t, r, true)
		expectUnchanged(t, ts, j)
	})
	t.Run("27 resourceVersion precondition: 409", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j27"))
		r := deleteJob(t, ts, j.Name, "", `{"preconditions":{"resourceVersion":"1"}}`, "application/json")
		expectFailure(t, r, 409, metav1.StatusReasonConflict, fmt.Sprintf(
			`Operation cannot be fulfilled on Job.batch "j27": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (%s). The object might have been modified`, j.ResourceVersion))
		expectJobWarning(t, r, true)
		expectUnchanged(t, ts, j)
	})
	t.Run("28 matching preconditions with Background: deleted", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j28"))
		r := deleteJob(t, ts, j.Name, "", fmt.Sprintf(`{"propagationPolicy":"Background","preconditions":{"uid":%q,"resourceVersion":%q}}`, j.UID, j.ResourceVersion), "application/json")
		expectSuccessStatus(t, r, j.Name, string(j.UID))
		expectJobGone(t, ts, "default", j.Name)
	})
	t.Run("29 matching preconditions with Orphan: marked", func(t *testing.T) {
		j := createJob(t, ts, "default", baseJob("j29"))
		r := deleteJob(t, ts, j.Name, "", fmt.Sprintf(`{"propagationPolicy":"Orphan","preconditions":{"uid":%q,"resourceVersion":%q}}`, j.UID, j.ResourceVersion), "application/json")
		out := expectJobBody(t, r, 200, []string{"orphan"})
		if mustAtoi(t, out.ResourceVersion) <= mustAtoi(t, j.ResourceVersion) {
			t.Errorf("resourceVersion %s not after %s", out.ResourceVersion, j.ResourceVersion)
		}
		expectJobWarning(t, r, false)
	})
}

// jobName turns a subtest name into a valid, unique job name.
func jobName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
