package jobs

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// "should apply changes to a job status"
func specApplyStatus(t *testing.T, f *framework) {
	jobs := f.cs.BatchV1().Jobs(f.ns)
	job := f.createJob(newTestJob("notTerminate", "suspend-false-to-true", corev1.RestartPolicyNever, 2, 4, nil, 6))
	f.waitForJobPodsInPhase(job.Name, 2, corev1.PodRunning)

	custom := batchv1.JobConditionType("CustomConditionType")
	now1 := metav1.Now().Rfc3339Copy()
	status, err := json.Marshal(batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: custom, Status: corev1.ConditionTrue, LastTransitionTime: now1}}})
	if err != nil {
		t.Fatal(err)
	}
	patched, err := jobs.Patch(f.ctx, job.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":`+string(status)+`}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatalf("patching /status: %v", err)
	}
	if c := findCondition(patched.Status.Conditions, custom); c == nil || !c.LastTransitionTime.Equal(&now1) {
		t.Fatalf("patched object should have the applied condition with LastTransitionTime %v, got %+v", now1, c)
	}
	if patched.Annotations["patchedstatus"] != "true" {
		t.Fatalf("patched object should have the applied annotation, got %v", patched.Annotations)
	}

	now2 := metav1.Now().Rfc3339Copy()
	var updated *batchv1.Job
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := jobs.Get(f.ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := findCondition(cur.Status.Conditions, custom)
		if c == nil {
			t.Fatalf("object does not have the required condition %v: %s", custom, describeJob(cur))
		}
		c.LastTransitionTime = now2
		updated, err = jobs.UpdateStatus(f.ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating /status: %v", err)
	}
	if c := findCondition(updated.Status.Conditions, custom); c == nil || !c.LastTransitionTime.Equal(&now2) {
		t.Fatalf("updated object should have the condition with LastTransitionTime %v, got %+v", now2, c)
	}

	gvr := schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	got, err := f.dyn.Resource(gvr).Namespace(f.ns).Get(f.ctx, job.Name, metav1.GetOptions{}, "status")
	if err != nil {
		t.Fatalf("get /status: %v", err)
	}
	uid, _, err := unstructured.NestedFieldCopy(got.Object, "metadata", "uid")
	if err != nil || uid != string(job.UID) {
		t.Fatalf("job.UID: %v expected to match statusUID: %v (%v)", job.UID, uid, err)
	}
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// "should manage the lifecycle of a job"
func specLifecycle(t *testing.T, f *framework) {
	name := "e2e-" + randomString(5)
	label := map[string]string{"e2e-job-label": name}
	sel := labels.SelectorFromSet(label).String()
	jobs := f.cs.BatchV1().Jobs(f.ns)
	lw := &cache.ListWatch{WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
		o.LabelSelector = sel
		return jobs.Watch(f.ctx, o)
	}}
	list, err := jobs.List(f.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("failed to list Job: %v", err)
	}

	job := newTestJob("succeed", name, corev1.RestartPolicyNever, 2, 4, nil, 6)
	job.Labels = label
	job.Spec.Suspend = ptr.To(true)
	job = f.createJob(job)
	if _, err := parseRV(job.ResourceVersion); err != nil {
		t.Fatalf("created job: %v", err)
	}

	patched, err := jobs.Patch(f.ctx, name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"`+name+`":"patched"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("failed to patch Job %s: %v", name, err)
	}
	if !rvLess(t, job.ResourceVersion, patched.ResourceVersion) {
		t.Errorf("patched object should have a larger resource version: %s -> %s", job.ResourceVersion, patched.ResourceVersion)
	}
	waitForJobEvent(t, f, list.ResourceVersion, lw, name, watch.Modified, func(j *batchv1.Job) bool { return j.Labels[name] == "patched" })
	if patched.Labels[name] != "patched" {
		t.Errorf("Did not find job label for this job. Current labels: %v", patched.Labels)
	}

	var updated *batchv1.Job
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := jobs.Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		patched = cur
		cur.Spec.Suspend = ptr.To(false)
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations["updated"] = "true"
		updated, err = f.updateJob(cur)
		return err
	})
	if err != nil {
		t.Fatalf("failed to update job: %v", err)
	}
	waitForJobEvent(t, f, patched.ResourceVersion, lw, name, watch.Modified, func(j *batchv1.Job) bool { return j.Annotations["updated"] == "true" })

	all, err := f.cs.BatchV1().Jobs("").List(f.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(all.Items) != 1 {
		t.Fatalf("listing all Jobs with LabelSelector: %d jobs, %v", lenItems(all), err)
	}
	testJob := all.Items[0]

	f.waitForJobComplete(name, batchv1.JobReasonCompletionsReached, 4)
	background := metav1.DeletePropagationBackground
	if err := jobs.DeleteCollection(f.ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{LabelSelector: sel}); err != nil {
		t.Fatalf("failed to delete job collection: %v", err)
	}
	waitForJobEvent(t, f, updated.ResourceVersion, lw, testJob.Name, watch.Deleted, func(j *batchv1.Job) bool { return j.Labels["e2e-job-label"] == name })
	all, err = f.cs.BatchV1().Jobs("").List(f.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(all.Items) != 0 {
		t.Fatalf("relisting jobs: %d jobs, %v", lenItems(all), err)
	}
}

// waitForJobEvent watches from rv for an event of type typ on the Job name
// matching match. Upstream only logs a missed event; we require it.
func waitForJobEvent(t *testing.T, f *framework, rv string, lw cache.Watcher, name string, typ watch.EventType, match func(*batchv1.Job) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	_, err := watchtools.Until(ctx, rv, lw, func(ev watch.Event) (bool, error) {
		j, ok := ev.Object.(*batchv1.Job)
		return ok && ev.Type == typ && j.Name == name && j.Namespace == f.ns && match(j), nil
	})
	if err != nil {
		t.Fatalf("missed the %v event of job %s from resourceVersion %s: %v", typ, name, rv, err)
	}
}

func lenItems(l *batchv1.JobList) int {
	if l == nil {
		return -1
	}
	return len(l.Items)
}

// parseRV accepts what resourceversion.CompareResourceVersion accepts: a
// decimal number without leading zeros.
func parseRV(rv string) (uint64, error) {
	if rv == "" || rv[0] == '0' {
		return 0, apierrors.NewBadRequest("invalid resourceVersion " + strconv.Quote(rv))
	}
	return strconv.ParseUint(rv, 10, 64)
}

func rvLess(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := parseRV(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := parseRV(b)
	if err != nil {
		t.Fatal(err)
	}
	return x < y
}
