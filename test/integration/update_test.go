package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// TestUpdate_Semantics runs update, status and create-option scenarios on
// one server; each subtest uses objects of its own.
func TestUpdate_Semantics(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	for name, fn := range map[string]func(*testing.T, *testserver.Server){
		"stale update conflicts":          testStaleUpdateConflict,
		"status split":                    testStatusSplit,
		"generation on spec change only":  testGeneration,
		"dry-run create persists nothing": testDryRunCreate,
		"generateName":                    testGenerateName,
		"create option validation":        testCreateOptionValidation,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, ts)
		})
	}
}

func testStaleUpdateConflict(t *testing.T, ts *testserver.Server) {
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	j := createJob(t, ts, "default", baseJob("u2"))
	fresh := j.DeepCopy()
	fresh.Spec.Parallelism = ptr[int32](2)
	if _, err := jobs.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("first update: %v", err)
	}
	stale := j.DeepCopy()
	stale.Spec.Parallelism = ptr[int32](3)
	_, err := jobs.Update(ctx, stale, metav1.UpdateOptions{})
	const msg = `Operation cannot be fulfilled on jobs.batch "u2": the object has been modified; please apply your changes to the latest version and try again`
	expectAPIError(t, err, 409, metav1.StatusReasonConflict, msg)

	body := fmt.Sprintf(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"u2","resourceVersion":%q},"spec":{"parallelism":4,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`, j.ResourceVersion)
	r := doJSON(t, ts, "PUT", "/apis/batch/v1/namespaces/default/jobs/u2", body)
	st := expectFailure(t, r, 409, metav1.StatusReasonConflict, msg)
	if diff := cmp.Diff(&metav1.StatusDetails{Name: "u2", Group: "batch", Kind: "jobs"}, st.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if got := getJob(t, ts, "default", "u2"); *got.Spec.Parallelism != 2 {
		t.Errorf("parallelism = %d after the refused update, want 2", *got.Spec.Parallelism)
	}

	pod, err := ts.Client.CoreV1().Pods("default").Create(ctx, basePod("stale-pod"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Labels = map[string]string{"a": "b"}
	if _, err := ts.Client.CoreV1().Pods("default").Update(ctx, pod.DeepCopy(), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.Client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	expectAPIError(t, err, 409, metav1.StatusReasonConflict,
		`Operation cannot be fulfilled on pods "stale-pod": the object has been modified; please apply your changes to the latest version and try again`)
}

func testStatusSplit(t *testing.T, ts *testserver.Server) {
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	j := createJob(t, ts, "default", baseJob("split"))

	// The main resource ignores status.
	j.Status.Active = 5
	j.Labels["via"] = "main"
	upd, err := jobs.Update(ctx, j, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.Status.Active != 0 || upd.Labels["via"] != "main" {
		t.Errorf("main update: status.active %d label %q, want 0 and main", upd.Status.Active, upd.Labels["via"])
	}

	// /status ignores the spec; metadata changes go through, as upstream
	// (its "should apply changes to a job status" conformance spec patches
	// an annotation through /status).
	upd.Status.Active = 3
	upd.Spec.Parallelism = ptr[int32](7)
	upd.Labels["via"] = "status"
	st, err := jobs.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Status.Active != 3 || *st.Spec.Parallelism != 1 || st.Labels["via"] != "status" || st.Generation != upd.Generation {
		t.Errorf("status update: active %d parallelism %d label %q generation %d, want 3, 1, status, %d",
			st.Status.Active, *st.Spec.Parallelism, st.Labels["via"], st.Generation, upd.Generation)
	}

	// A merge patch of status through the main resource is a no-op.
	p, err := jobs.Patch(ctx, "split", types.MergePatchType, []byte(`{"status":{"active":9}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if p.Status.Active != 3 || p.ResourceVersion != st.ResourceVersion || p.Generation != st.Generation {
		t.Errorf("status patch through main: active %d rv %s gen %d, want 3, %s, %d (no write)", p.Status.Active, p.ResourceVersion, p.Generation, st.ResourceVersion, st.Generation)
	}
	// A patch through /status changes status only.
	p, err = jobs.Patch(ctx, "split", types.MergePatchType, []byte(`{"spec":{"parallelism":4},"status":{"active":1}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatalf("status patch: %v", err)
	}
	if p.Status.Active != 1 || *p.Spec.Parallelism != 1 {
		t.Errorf("status patch: active %d parallelism %d, want 1 and 1", p.Status.Active, *p.Spec.Parallelism)
	}

	// Pods: phase only through /status.
	pods := ts.Client.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, basePod("split-pod"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodSucceeded
	pod, err = pods.Update(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pod update: %v", err)
	}
	if pod.Status.Phase != corev1.PodPending {
		t.Errorf("pod phase after main update = %q, want Pending", pod.Status.Phase)
	}
}

func testGeneration(t *testing.T, ts *testserver.Server) {
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	j := createJob(t, ts, "default", baseJob("gen"))
	if j.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", j.Generation)
	}
	steps := []struct {
		name  string
		patch string
		sub   []string
		want  int64
	}{
		{"label", `{"metadata":{"labels":{"x":"y"}}}`, nil, 1},
		{"annotation", `{"metadata":{"annotations":{"x":"y"}}}`, nil, 1},
		{"parallelism", `{"spec":{"parallelism":2}}`, nil, 2},
		{"status", `{"status":{"active":1}}`, []string{"status"}, 2},
		{"backoffLimit", `{"spec":{"backoffLimit":3}}`, nil, 3},
		{"same spec again", `{"spec":{"backoffLimit":3}}`, nil, 3},
		{"suspend", `{"spec":{"suspend":true}}`, nil, 4},
	}
	for _, s := range steps {
		out, err := jobs.Patch(ctx, "gen", types.MergePatchType, []byte(s.patch), metav1.PatchOptions{}, s.sub...)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if out.Generation != s.want {
			t.Errorf("%s: generation %d, want %d", s.name, out.Generation, s.want)
		}
	}
}

func testDryRunCreate(t *testing.T, ts *testserver.Server) {
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	w, err := jobs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=dry"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	out, err := jobs.Create(ctx, baseJob("dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if out.Name != "dry" || out.UID == "" || *out.Spec.BackoffLimit != 6 || out.Labels["job-name"] != "dry" {
		t.Errorf("dry-run create returned %+v, want a defaulted Job with uid", out.ObjectMeta)
	}
	_, err = jobs.Get(ctx, "dry", metav1.GetOptions{})
	expectAPIError(t, err, 404, metav1.StatusReasonNotFound, `jobs.batch "dry" not found`)
	// Twice is fine: nothing was stored.
	if _, err := jobs.Create(ctx, baseJob("dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("second dry-run create: %v", err)
	}
	// The watch sees only the real create.
	real := createJob(t, ts, "default", baseJob("dry"))
	if s := nextSeen(t, w); s.Type != "ADDED" || s.RV != real.ResourceVersion {
		t.Errorf("first watch event %+v, want ADDED at %s (the dry runs must not emit events)", s, real.ResourceVersion)
	}
	// A dry-run create of an existing name is AlreadyExists.
	_, err = jobs.Create(ctx, baseJob("dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	expectAPIError(t, err, 409, metav1.StatusReasonAlreadyExists, `jobs.batch "dry" already exists`)
	list, err := ts.Client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := ts.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "dry-"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || cm.Name == "" {
		t.Fatalf("dry-run generateName create: %v (name %q)", err, cm.Name)
	}
	after, err := ts.Client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Items) != len(list.Items) {
		t.Errorf("configmaps %d after a dry-run create, want %d", len(after.Items), len(list.Items))
	}
}

func testGenerateName(t *testing.T, ts *testserver.Server) {
	ctx := testCtx(t)
	j := baseJob("")
	j.GenerateName = "gen-job-"
	out, err := ts.Client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(out.Name) != len("gen-job-")+5 || out.Name[:8] != "gen-job-" || out.GenerateName != "gen-job-" {
		t.Errorf("name %q generateName %q", out.Name, out.GenerateName)
	}
	if out.Labels["job-name"] != out.Name {
		t.Errorf("job-name label %q, want the generated name %q", out.Labels["job-name"], out.Name)
	}
	getJob(t, ts, "default", out.Name)
	r := doJSON(t, ts, "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{}}`)
	st := expectFailure(t, r, 422, metav1.StatusReasonInvalid, `ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required`)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "metadata.name" {
		t.Errorf("details %+v", st.Details)
	}
}

func testCreateOptionValidation(t *testing.T, ts *testserver.Server) {
	r := doJSON(t, ts, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Bogus", `{"metadata":{"name":"fvb"}}`)
	expectFailure(t, r, 422, metav1.StatusReasonInvalid,
		`CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"`)
	r = doJSON(t, ts, "POST", "/api/v1/namespaces/default/configmaps?dryRun=Bogus", `{"metadata":{"name":"fvb"}}`)
	expectFailure(t, r, 422, metav1.StatusReasonInvalid,
		`CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Bogus"]: supported values: "All"`)
	if _, err := ts.Client.CoreV1().ConfigMaps("default").Get(testCtx(t), "fvb", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("fvb exists after refused creates: %v", err)
	}
}

// jobBodyFV is a Job with a duplicate field and an unknown one.
const jobBodyFV = `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"%s","name":"%s"},"spec":{"foo":1,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`

// putBodyFV is the stored job as a PUT body with the same duplicate and
// unknown fields as jobBodyFV.
func putBodyFV(t *testing.T, j *batchv1.Job) string {
	t.Helper()
	j.APIVersion, j.Kind = "batch/v1", "Job"
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	name := fmt.Sprintf(`"metadata":{"name":%q`, j.Name)
	if !strings.Contains(s, name) || !strings.Contains(s, `"spec":{"parallelism"`) {
		t.Fatalf("unexpected job JSON %s", s)
	}
	s = strings.Replace(s, name, name+`,"name":`+fmt.Sprintf("%q", j.Name), 1)
	return strings.Replace(s, `"spec":{"parallelism"`, `"spec":{"foo":1,"parallelism"`, 1)
}

func TestFieldValidation_CreateUpdatePatch(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	const createErr = `Job in version "v1" cannot be handled as a Job: strict decoding error: duplicate field "metadata.name", unknown field "spec.foo"`
	bodyWarnings := []string{`duplicate field "metadata.name"`, `unknown field "spec.foo"`}
	const mergeBody = `{"spec":{"foo":1,"parallelism":2,"parallelism":3}}`
	mergeErr := `strict decoding error: duplicate field "spec.parallelism", unknown field "spec.foo"`
	mergeWarnings := []string{`duplicate field "spec.parallelism"`, `unknown field "spec.foo"`}
	const jsonPatchBody = `[{"op":"add","path":"/spec/foo","value":1},{"op":"replace","path":"/spec/parallelism","value":3}]`
	jsonPatchErr := `strict decoding error: unknown field "spec.foo"`
	jsonPatchWarnings := []string{`unknown field "spec.foo"`}

	for _, mode := range []string{"Strict", "Warn", "Ignore", ""} {
		mode := mode
		t.Run("mode "+mode, func(t *testing.T) {
			t.Parallel()
			name := "fv-" + map[string]string{"Strict": "s", "Warn": "w", "Ignore": "i", "": "d"}[mode]
			q := ""
			if mode != "" {
				q = "?fieldValidation=" + mode
			}
			check := func(step string, r response, okCode int, errMsg string, warns []string) {
				t.Helper()
				if mode == "Strict" && step == "strategic merge patch" {
					// Upstream's strategic-merge patcher reports strictness on the
					// field "patch", with the decoded patch as the value (and the leading
					// space of an empty kind).
					expectFailure(t, r, 422, metav1.StatusReasonInvalid, ` "" is invalid: patch: Invalid value: "map[spec:map[foo:1 parallelism:3]]": `+errMsg)
					return
				}
				if mode == "Strict" {
					expectFailure(t, r, 400, metav1.StatusReasonBadRequest, errMsg)
					if len(r.warnings()) != 0 {
						t.Errorf("%s: warnings %q on a Strict failure", step, r.warnings())
					}
					return
				}
				if r.Code != okCode {
					t.Fatalf("%s: code %d, want %d: %s", step, r.Code, okCode, r.Body)
				}
				if mode == "Ignore" {
					warns = nil
				}
				expectWarnings(t, step, r, warns)
			}
			r := doJSON(t, ts, "POST", "/apis/batch/v1/namespaces/default/jobs"+q, fmt.Sprintf(jobBodyFV, name, name))
			check("create", r, 201, createErr, bodyWarnings)
			if mode == "Strict" {
				if _, err := ts.Client.BatchV1().Jobs("default").Get(testCtx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("Strict create stored the job: %v", err)
				}
				createJob(t, ts, "default", baseJob(name))
			}
			r = doJSON(t, ts, "PUT", "/apis/batch/v1/namespaces/default/jobs/"+name+q, putBodyFV(t, getJob(t, ts, "default", name)))
			check("update", r, 200, createErr, bodyWarnings)

			path := "/apis/batch/v1/namespaces/default/jobs/" + name + q
			r = do(t, ts, request{Method: "PATCH", Path: path, Body: mergeBody, ContentType: "application/merge-patch+json"})
			check("merge patch", r, 200, mergeErr, mergeWarnings)
			r = do(t, ts, request{Method: "PATCH", Path: path, Body: mergeBody, ContentType: "application/strategic-merge-patch+json"})
			check("strategic merge patch", r, 200, mergeErr, mergeWarnings)
			r = do(t, ts, request{Method: "PATCH", Path: path, Body: jsonPatchBody, ContentType: "application/json-patch+json"})
			check("json patch", r, 200, jsonPatchErr, jsonPatchWarnings)

			got := getJob(t, ts, "default", name)
			wantPar := int32(3)
			if mode == "Strict" {
				wantPar = 1
			}
			if *got.Spec.Parallelism != wantPar {
				t.Errorf("parallelism %d, want %d", *got.Spec.Parallelism, wantPar)
			}
		})
	}
}
