package openapi

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestNewTypeConverter_ServedKinds(t *testing.T) {
	t.Parallel()
	tc, err := NewDeferredTypeConverter(nil).TypeConverter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		obj runtime.Object
		gvk schema.GroupVersionKind
	}{
		"a job":          {obj: &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: new(int32)}}, gvk: batchv1.SchemeGroupVersion.WithKind("Job")},
		"a pod":          {obj: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}, gvk: corev1.SchemeGroupVersion.WithKind("Pod")},
		"a config map":   {obj: &corev1.ConfigMap{Data: map[string]string{"a": "b"}}, gvk: corev1.SchemeGroupVersion.WithKind("ConfigMap")},
		"a lease":        {obj: &coordinationv1.Lease{}, gvk: coordinationv1.SchemeGroupVersion.WithKind("Lease")},
		"a cluster role": {obj: &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}}}}, gvk: rbacv1.SchemeGroupVersion.WithKind("ClusterRole")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tt.obj.GetObjectKind().SetGroupVersionKind(tt.gvk)
			if _, err := tc.ObjectToTyped(tt.obj); err != nil {
				t.Errorf("ObjectToTyped: %v", err)
			}
		})
	}
	unknown := &metav1.Status{}
	unknown.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Nope"})
	if _, err := tc.ObjectToTyped(unknown); err == nil {
		t.Error("ObjectToTyped of an unknown kind: no error")
	}
}

func TestDeferredTypeConverter_TypeConverter_ContextDone(t *testing.T) {
	t.Parallel()
	d := &DeferredTypeConverter{done: make(chan struct{})} // never built
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.TypeConverter(ctx); err == nil {
		t.Error("no error from a cancelled wait")
	}
}
