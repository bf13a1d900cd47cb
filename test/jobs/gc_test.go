package jobs

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deleteJobAndWaitForGC is e2eresource.DeleteResourceAndWaitForGC for a
// Job: read its selector, delete it with Background propagation (retrying
// until deleted or NotFound), then wait until none of its pods is active
// and then until all are gone.
func (f *framework) deleteJobAndWaitForGC(name string) {
	f.t.Helper()
	job := f.getJob(name)
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		f.t.Fatalf("job %s selector: %v", name, err)
	}
	background := metav1.DeletePropagationBackground
	pollUntil(f.t, 30*time.Second, "deleting job "+name, func() (bool, error) {
		err := f.cs.BatchV1().Jobs(f.ns).Delete(f.ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
		if err == nil || apierrors.IsNotFound(err) {
			return true, nil
		}
		if apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) {
			return false, nil
		}
		return false, err
	})
	list := func() ([]corev1.Pod, error) {
		pods, err := f.cs.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, err
		}
		return pods.Items, nil
	}
	pollUntil(f.t, jobTimeout, "pods of job "+name+" inactive", func() (bool, error) {
		pods, err := list()
		for _, p := range pods {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
				return false, err
			}
		}
		return err == nil, err
	})
	pollUntil(f.t, jobTimeout, "pods of job "+name+" gone", func() (bool, error) {
		pods, err := list()
		return err == nil && len(pods) == 0, err
	})
}

// jobOwner is the controller reference a Job's pods must carry.
func jobOwner(job *batchv1.Job) metav1.OwnerReference {
	return *metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))
}
