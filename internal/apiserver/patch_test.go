package apiserver

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"
)

// TestStrategicMetadata_SameAsWholeObject: a strategic merge patch of
// metadata alone, merged into the metadata only, gives exactly what merging
// it into the whole object gives, errors included.
func TestStrategicMetadata_SameAsWholeObject(t *testing.T) {
	t.Parallel()
	current := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "p", Namespace: "ns", UID: "u1", ResourceVersion: "5",
			Labels:      map[string]string{"app": "a", "job-name": "j"},
			Annotations: map[string]string{"x": "1"},
			Finalizers:  []string{"batch.kubernetes.io/job-tracking", "other/f"},
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "owner-1"},
				{APIVersion: "v1", Kind: "ConfigMap", Name: "c", UID: "owner-2"},
			},
		},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: "c", Image: "busybox", Args: []string{"a"}}},
			RestartPolicy: corev1.RestartPolicyNever,
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	patches := map[string]string{
		"remove a finalizer":         `{"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}`,
		"remove a finalizer with rv": `{"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"],"resourceVersion":"5"}}`,
		"remove an owner reference":  `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"owner-1"}],"uid":"u1"}}`,
		"replace owner references":   `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n","uid":"owner-3"}]}}`,
		"labels add and remove":      `{"metadata":{"labels":{"app":null,"new":"v"}}}`,
		"finalizers in a new order":  `{"metadata":{"$setElementOrder/finalizers":["other/f","batch.kubernetes.io/job-tracking"],"finalizers":["other/f"]}}`,
		"retain keys":                `{"metadata":{"$retainKeys":["name","namespace"],"name":"p"}}`,
		"metadata null":              `{"metadata":null}`,
		"unknown field":              `{"metadata":{"bogus":1,"labels":{"a":"b"}}}`,
		"wrong type":                 `{"metadata":{"labels":"not a map"}}`,
		"metadata not a map":         `{"metadata":"x"}`,
		"bad directive":              `{"metadata":{"ownerReferences":[{"$patch":"explode","uid":"owner-1"}]}}`,
	}
	newPod := func() runtime.Object { return &corev1.Pod{} }
	for name, patch := range patches {
		for _, validate := range []bool{true, false} {
			// A merge consumes the patch's directives: each gets its own.
			parse := func() map[string]any {
				patchMap := map[string]any{}
				if _, err := kjson.UnmarshalStrict([]byte(patch), &patchMap); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return patchMap
			}
			before := current.DeepCopy()
			whole, wholeErr := strategicWhole(current, parse(), newPod, validate)
			meta, metaErr := strategicMetadata(current, parse(), newPod, validate)
			if (wholeErr == nil) != (metaErr == nil) || (wholeErr != nil && wholeErr.Error() != metaErr.Error()) {
				t.Errorf("%s (validate %v): error %v, whole object gives %v", name, validate, metaErr, wholeErr)
				continue
			}
			if diff := cmp.Diff(whole, meta); diff != "" {
				t.Errorf("%s (validate %v): result differs from the whole-object merge (-whole +metadata):\n%s", name, validate, diff)
			}
			if diff := cmp.Diff(before, current); diff != "" {
				t.Fatalf("%s: the current object was changed:\n%s", name, diff)
			}
		}
	}
}
