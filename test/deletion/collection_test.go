package deletion

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletecollection with a label selector and Background propagation
// deletes only the matching Jobs, and the garbage collector then deletes
// their pods; the other Job and its pod are untouched.
func TestGarbageCollector_DeleteCollection_BackgroundPerItem(t *testing.T) {
	e := setup(t, "collection")
	jobs := map[string]*batchv1.Job{}
	for _, name := range []string{"a1", "a2", "b1"} {
		spec := pendingJob(name)
		spec.Labels = map[string]string{"app": name[:1]}
		jobs[name] = e.createJob(spec)
	}
	pods := map[string]corev1.Pod{}
	for name, j := range jobs {
		pods[name] = e.waitJobPods(j, 1)[0]
	}

	r := e.do("DELETE", e.jobsPath()+"?labelSelector=app%3Da", `{"propagationPolicy":"Background"}`)
	r.expectCode(t, "deletecollection", 200)
	r.expectWarning(t, "deletecollection", false)
	var list batchv1.JobList
	r.into(t, &list)
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	if list.Kind != "JobList" || list.APIVersion != "batch/v1" || !slices.Equal(names, []string{"a1", "a2"}) {
		t.Errorf("deletecollection body %s %s items %v, want JobList batch/v1 [a1 a2]", list.Kind, list.APIVersion, names)
	}
	for _, name := range []string{"a1", "a2"} {
		if _, err := e.getJob(name); !isNotFound(err) {
			t.Errorf("job %s after deletecollection: err %v, want NotFound", name, err)
		}
		e.waitGone("pods", pods[name].Name)
	}
	if j, err := e.getJob("b1"); err != nil || j.DeletionTimestamp != nil {
		t.Errorf("job b1 must be untouched: err %v", err)
	}
	if p, err := e.getPod(pods["b1"].Name); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod of b1 must be untouched: err %v", err)
	}
}

// A cycle of blocking ownerReferences (c1 owned by c3, c2 by c1, c3 by c2)
// never deadlocks the garbage collector: deleting c1 removes all three,
// in Background and in Foreground (upstream's "should not be blocked by
// dependency circle").
func TestGarbageCollector_DependencyCycle_NotBlocked(t *testing.T) {
	e := setup(t, "cycle")
	for _, policy := range []string{"Background", "Foreground"} {
		t.Run(policy, func(t *testing.T) {
			names := []string{policy + "-c1", policy + "-c2", policy + "-c3"}
			for i := range names {
				names[i] = strings.ToLower(names[i])
			}
			uids := map[string]types.UID{}
			for _, n := range names {
				uids[n] = e.createPod(pendingPod(n)).UID
			}
			for i, n := range names {
				owner := names[(i+len(names)-1)%len(names)]
				patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":%q,"uid":%q,"blockOwnerDeletion":true}]}}`, owner, uids[owner])
				if _, err := e.patch("pods", n, types.MergePatchType, patch); err != nil {
					t.Fatalf("linking %s to %s: %v", n, owner, err)
				}
			}
			if err := e.ts.Client.CoreV1().Pods(e.ns).Delete(e.ctx, names[0], metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletionPropagation(policy))}); err != nil {
				t.Fatalf("deleting %s: %v", names[0], err)
			}
			for _, n := range names {
				e.waitGone("pods", n)
			}
		})
	}
}
