package integration

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

const applyContentType = string(types.ApplyYAMLPatchType)

// suspendedJobApply is a minimal suspended Job as an apply configuration.
func suspendedJobApply(name string, parallelism int32) *batchv1ac.JobApplyConfiguration {
	return batchv1ac.Job(name, "default").WithSpec(batchv1ac.JobSpec().
		WithSuspend(true).WithParallelism(parallelism).
		WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().
			WithRestartPolicy(corev1.RestartPolicyNever).
			WithContainers(corev1ac.Container().WithName("c").WithImage("busybox")))))
}

// managerEntry is the part of a managedFields entry a test compares.
type managerEntry struct {
	Manager, Operation, APIVersion, Subresource string
}

func managers(obj metav1.Object) []managerEntry {
	var out []managerEntry
	for _, e := range obj.GetManagedFields() {
		out = append(out, managerEntry{e.Manager, string(e.Operation), e.APIVersion, e.Subresource})
	}
	return out
}

func expectManagers(t *testing.T, step string, obj metav1.Object, want []managerEntry) {
	t.Helper()
	if diff := cmp.Diff(want, managers(obj)); diff != "" {
		t.Errorf("%s: managedFields (-want +got):\n%s", step, diff)
	}
}

// TestApply_Job_CreateChangeConflictForce drives one Job through the
// server-side apply life cycle with client-go's typed apply.
func TestApply_Job_CreateChangeConflictForce(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")

	created, err := jobs.Apply(ctx, suspendedJobApply("applied", 1), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply creating the job: %v", err)
	}
	if created.UID == "" || *created.Spec.Parallelism != 1 || created.Spec.BackoffLimit == nil {
		t.Fatalf("created job: uid %q parallelism %v backoffLimit %v, want a stored, defaulted job", created.UID, created.Spec.Parallelism, created.Spec.BackoffLimit)
	}
	expectManagers(t, "after create", created, []managerEntry{{"alice", "Apply", "batch/v1", ""}})

	changed, err := jobs.Apply(ctx, suspendedJobApply("applied", 2), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if *changed.Spec.Parallelism != 2 || changed.UID != created.UID {
		t.Errorf("second apply: parallelism %d uid %s, want 2 on the same job", *changed.Spec.Parallelism, changed.UID)
	}

	_, err = jobs.Apply(ctx, batchv1ac.Job("applied", "default").WithSpec(batchv1ac.JobSpec().WithParallelism(3)), metav1.ApplyOptions{FieldManager: "bob"})
	expectAPIError(t, err, http.StatusConflict, metav1.StatusReasonConflict, `Apply failed with 1 conflict: conflict with "alice": .spec.parallelism`)
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		want := []metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "alice"`, Field: ".spec.parallelism"}}
		if diff := cmp.Diff(want, se.ErrStatus.Details.Causes); diff != "" {
			t.Errorf("conflict causes (-want +got):\n%s", diff)
		}
	}

	forced, err := jobs.Apply(ctx, batchv1ac.Job("applied", "default").WithSpec(batchv1ac.JobSpec().WithParallelism(3)), metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if *forced.Spec.Parallelism != 3 {
		t.Errorf("forced apply: parallelism %d, want 3", *forced.Spec.Parallelism)
	}
	expectManagers(t, "after force", forced, []managerEntry{{"alice", "Apply", "batch/v1", ""}, {"bob", "Apply", "batch/v1", ""}})
	if owner := ownerOf(t, forced, "f:parallelism"); owner != "bob" {
		t.Errorf("spec.parallelism is owned by %q, want bob", owner)
	}
}

// ownerOf returns the manager whose fieldsV1 mention key under f:spec.
func ownerOf(t *testing.T, obj metav1.Object, key string) string {
	t.Helper()
	owner := ""
	for _, e := range obj.GetManagedFields() {
		var fields map[string]map[string]any
		if e.FieldsV1 == nil {
			continue
		}
		if err := json.Unmarshal(e.FieldsV1.Raw, &fields); err != nil {
			t.Fatalf("fieldsV1 of %s: %v", e.Manager, err)
		}
		if _, ok := fields["f:spec"][key]; ok {
			if owner != "" {
				t.Errorf("%s owned by both %s and %s", key, owner, e.Manager)
			}
			owner = e.Manager
		}
	}
	return owner
}

// TestApply_Job_TrackedFromFirstApply: a Job created and updated without
// apply carries no managedFields (Skiff tracks an object from its first
// apply; see trackUpdate); the first apply still conflicts with the fields
// that were there, owned by upstream's "before-first-apply" manager; from
// then on Updates are recorded.
func TestApply_Job_TrackedFromFirstApply(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "csa"},
		Spec: batchv1.JobSpec{Suspend: ptr(true), Parallelism: ptr[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		}}},
	}
	job, err := jobs.Create(ctx, job, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
	if err != nil {
		t.Fatal(err)
	}
	expectManagers(t, "after create", job, nil)

	job.Labels = map[string]string{"team": "a"}
	job, err = jobs.Update(ctx, job, metav1.UpdateOptions{FieldManager: "labeller"})
	if err != nil {
		t.Fatal(err)
	}
	expectManagers(t, "after update", job, nil)

	apply := batchv1ac.Job("csa", "default").WithSpec(batchv1ac.JobSpec().WithParallelism(5))
	_, err = jobs.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "kubectl"})
	expectAPIError(t, err, http.StatusConflict, metav1.StatusReasonConflict,
		`Apply failed with 1 conflict: conflict with "before-first-apply" using batch/v1: .spec.parallelism`)

	job, err = jobs.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "kubectl", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ownerOf(t, job, "f:parallelism"); got != "kubectl" {
		t.Errorf("parallelism owned by %q after a forced apply, want kubectl", got)
	}
	job.Labels["team"] = "b"
	job, err = jobs.Update(ctx, job, metav1.UpdateOptions{FieldManager: "labeller"})
	if err != nil {
		t.Fatal(err)
	}
	expectManagers(t, "after an update of the applied Job", job, []managerEntry{
		{"kubectl", "Apply", "batch/v1", ""}, {"before-first-apply", "Update", "batch/v1", ""}, {"labeller", "Update", "batch/v1", ""}})
}

// TestApply_RawRequests checks the wire details client-go hides: status
// codes, the default manager from the User-Agent, upstream's errors.
func TestApply_RawRequests(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	const cm = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"raw"},"data":{"a":"1"}}`
	path := "/api/v1/namespaces/default/configmaps/raw"

	r := do(t, ts, request{Method: "PATCH", Path: path, Body: cm, ContentType: applyContentType})
	expectFailure(t, r, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
		`PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`)

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m&force=true", Body: `{"data":{"a":"2"}}`, ContentType: "application/merge-patch+json"})
	expectFailure(t, r, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
		`PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch`)

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: "a: [", ContentType: applyContentType})
	if r.Code != http.StatusBadRequest {
		t.Errorf("invalid YAML: code %d, want 400; body %s", r.Code, r.Body)
	}

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: cm, ContentType: "application/apply-patch+cbor"})
	expectFailure(t, r, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, "415: Unsupported Media Type")

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: cm, ContentType: applyContentType})
	if r.Code != http.StatusCreated {
		t.Fatalf("apply creating: code %d, want 201; body %s", r.Code, r.Body)
	}
	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: cm, ContentType: applyContentType})
	if r.Code != http.StatusOK {
		t.Fatalf("apply again: code %d, want 200; body %s", r.Code, r.Body)
	}

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"raw"},"bogus":1}`, ContentType: applyContentType})
	expectFailure(t, r, http.StatusInternalServerError, "", `failed to create typed patch object (/raw; /v1, Kind=ConfigMap): .bogus: field not declared in schema`)

	r = do(t, ts, request{Method: "PATCH", Path: path + "?fieldManager=m", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`, ContentType: applyContentType})
	expectFailure(t, r, http.StatusBadRequest, metav1.StatusReasonBadRequest, "the name of the object (other) does not match the name on the URL (raw)")
}

// TestManagedFields_DefaultManagerAndReset: without fieldManager the
// manager is the User-Agent's product; managedFields a client sends are
// replaced when invalid and cleared by a single empty entry.
func TestManagedFields_DefaultManagerAndReset(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	base := "/api/v1/namespaces/default/configmaps"
	// Applied first, so tracked (see trackUpdate); then a patch that names
	// no manager.
	r := do(t, ts, request{Method: "PATCH", Path: base + "/ua?fieldManager=applier", Body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ua"},"data":{"a":"1"}}`, ContentType: applyContentType})
	if r.Code != http.StatusCreated {
		t.Fatalf("apply creating: code %d; body %s", r.Code, r.Body)
	}
	req, err := http.NewRequestWithContext(testCtx(t), "PATCH", ts.URL()+base+"/ua", strings.NewReader(`{"data":{"b":"2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("User-Agent", "my-tool/1.2 (linux/amd64)")
	resp, err := ts.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cm, err := ts.Client.CoreV1().ConfigMaps("default").Get(testCtx(t), "ua", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expectManagers(t, "User-Agent manager", cm, []managerEntry{{"applier", "Apply", "v1", ""}, {"my-tool", "Update", "v1", ""}})

	bogus := `{"metadata":{"name":"bogus","managedFields":[{"manager":"x","operation":"Update","apiVersion":"v1","fieldsType":"Bogus","fieldsV1":{}}]},"data":{"a":"1"}}`
	r = do(t, ts, request{Method: "POST", Path: base + "?fieldManager=creator", Body: bogus, ContentType: "application/json"})
	var got corev1.ConfigMap
	r.into(t, &got)
	expectManagers(t, "invalid managedFields from the client", &got, []managerEntry{{"creator", "Update", "v1", ""}})

	cm.ResourceVersion = ""
	// One empty entry is how a client says "reset" (an empty list is not
	// sent at all).
	cm.ManagedFields = []metav1.ManagedFieldsEntry{{}}
	cm.Data["b"] = "2"
	cleared, err := ts.Client.CoreV1().ConfigMaps("default").Update(testCtx(t), cm, metav1.UpdateOptions{FieldManager: "clearer"})
	if err != nil {
		t.Fatal(err)
	}
	expectManagers(t, "empty managedFields clear them", cleared, nil)
}

// TestApply_Status: apply through /status owns status fields under the
// subresource; the spec it sends is reset, so it owns none of it.
func TestApply_Status(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	pods := ts.Client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "st"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: "creator"}); err != nil {
		t.Fatal(err)
	}
	cfg := corev1ac.Pod("st", "default").
		WithSpec(corev1ac.PodSpec().WithActiveDeadlineSeconds(30)).
		WithStatus(corev1ac.PodStatus().WithConditions(corev1ac.PodCondition().WithType("example.com/ready").WithStatus(corev1.ConditionTrue)))
	out, err := pods.ApplyStatus(ctx, cfg, metav1.ApplyOptions{FieldManager: "status-writer"})
	if err != nil {
		t.Fatalf("apply status: %v", err)
	}
	if len(out.Status.Conditions) != 1 || out.Status.Conditions[0].Type != "example.com/ready" {
		t.Errorf("conditions %+v, want the applied one", out.Status.Conditions)
	}
	if out.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("spec.activeDeadlineSeconds = %d through /status, want it ignored", *out.Spec.ActiveDeadlineSeconds)
	}
	// The pod was created without apply, so untracked: the first apply (here
	// through /status) gives the existing fields to "before-first-apply".
	expectManagers(t, "after status apply", out, []managerEntry{{"status-writer", "Apply", "v1", "status"}, {"before-first-apply", "Update", "v1", "status"}})
	if owner := ownerOf(t, out, "f:activeDeadlineSeconds"); owner != "" {
		t.Errorf("spec.activeDeadlineSeconds owned by %q, want nobody (reset by /status)", owner)
	}
}

// TestApply_DryRun: a dry-run apply answers as the real one would and
// stores nothing.
func TestApply_DryRun(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	jobs := ts.Client.BatchV1().Jobs("default")
	dry := metav1.ApplyOptions{FieldManager: "alice", DryRun: []string{metav1.DryRunAll}}
	out, err := jobs.Apply(ctx, suspendedJobApply("dry", 1), dry)
	if err != nil {
		t.Fatalf("dry-run apply creating: %v", err)
	}
	expectManagers(t, "dry-run create answer", out, []managerEntry{{"alice", "Apply", "batch/v1", ""}})
	if _, err := jobs.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after dry-run create: %v, want NotFound", err)
	}

	real, err := jobs.Apply(ctx, suspendedJobApply("dry", 1), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = jobs.Apply(ctx, suspendedJobApply("dry", 4), dry)
	if err != nil {
		t.Fatalf("dry-run apply changing: %v", err)
	}
	if *out.Spec.Parallelism != 4 {
		t.Errorf("dry-run answer parallelism %d, want 4", *out.Spec.Parallelism)
	}
	stored, err := jobs.Get(ctx, "dry", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *stored.Spec.Parallelism != 1 || stored.ResourceVersion != real.ResourceVersion {
		t.Errorf("stored after dry run: parallelism %d rv %s, want 1 rv %s", *stored.Spec.Parallelism, stored.ResourceVersion, real.ResourceVersion)
	}
}
