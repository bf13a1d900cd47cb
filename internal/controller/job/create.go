package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// createPods creates n pods (one per index for Indexed Jobs) in slow-start
// batches of 1, 2, 4, ...: a batch with an error stops the rest, so a Job
// that cannot create pods (quota, bad template) sends a handful of requests,
// not hundreds. Batches are not spaced in time. It returns the number of pods
// created.
func (c *Controller) createPods(ctx context.Context, st *syncState, n int, indexes []int) (int32, error) {
	c.expectations.expect(st.key, n, 0)
	tmpl := st.job.Spec.Template.DeepCopy()
	if isIndexed(st.job) {
		addCompletionIndexEnv(tmpl)
	}
	if !containsString(tmpl.Finalizers, batchv1.JobTrackingFinalizer) {
		tmpl.Finalizers = append(tmpl.Finalizers, batchv1.JobTrackingFinalizer)
	}
	var created int32
	for batch, done := 1, 0; done < n; batch *= 2 {
		size := min(batch, n-done)
		var batchIdx []int
		if indexes != nil {
			batchIdx = indexes[done : done+size]
		}
		ok, err := c.createBatch(ctx, st, tmpl, size, batchIdx)
		created += ok
		done += size
		if err != nil {
			for range n - done {
				// Skipped pods will never show up in the informer.
				c.expectations.creationObserved(st.key)
			}
			return created, err
		}
	}
	return created, nil
}

// createBatch creates size pods in parallel and returns how many were
// created.
func (c *Controller) createBatch(ctx context.Context, st *syncState, tmpl *corev1.PodTemplateSpec, size int, indexes []int) (int32, error) {
	var created atomic.Int32
	errs := make([]error, size)
	c.parallel(size, func(i int) {
		ix := unknownIndex
		if indexes != nil {
			ix = indexes[i]
		}
		err := c.createPod(ctx, st, c.podForIndex(st, tmpl, ix))
		if err == nil {
			created.Add(1)
			return
		}
		c.expectations.creationObserved(st.key)
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// A terminating namespace refuses every create; that is no error.
			errs[i] = err
		}
	})
	return created.Load(), utilerrors.NewAggregate(errs)
}

// podForIndex builds the pod for a completion index (unknownIndex for
// NonIndexed Jobs).
func (c *Controller) podForIndex(st *syncState, tmpl *corev1.PodTemplateSpec, ix int) *corev1.Pod {
	job := st.job
	if ix == unknownIndex {
		return podFromTemplate(job, tmpl, podsPrefix(job.Name))
	}
	pod := podFromTemplate(job, tmpl, indexedPodsPrefix(job.Name, ix))
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	if hasBackoffLimitPerIndex(job) {
		failures, ignored := newIndexFailureCounts(c.logger, job, st.delayed[ix])
		pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
		if ignored > 0 {
			pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
		}
	}
	return pod
}

var errNoLabels = errors.New("unable to create pods, no labels")

// createPod creates one pod and records the upstream event.
func (c *Controller) createPod(ctx context.Context, st *syncState, pod *corev1.Pod) error {
	if len(pod.Labels) == 0 {
		return errNoLabels
	}
	created, err := c.client.CoreV1().Pods(st.job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(st.job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for job %s: %w", st.key, err)
	}
	c.recorder.Eventf(st.job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
