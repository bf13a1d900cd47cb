package job

import (
	"reflect"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Event handlers only enqueue and account expectations; all API work happens
// in the workers.

func controllerOf(pod *corev1.Pod) *metav1.OwnerReference {
	return metav1.GetControllerOfNoCopy(pod)
}

func keyOf(obj metav1.Object) cache.ObjectName {
	return cache.ObjectName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// enqueue syncs the Job after delay; pending syncs of one Job collapse.
func (c *Controller) enqueue(key cache.ObjectName, delay time.Duration) {
	if delay <= 0 {
		c.queue.Add(key)
		return
	}
	c.queue.AddAfter(key, delay)
}

func (c *Controller) enqueueBatched(key cache.ObjectName) { c.enqueue(key, c.batchPeriod) }

// resolveControllerRef returns the Job a controller reference points to, or
// nil when it names no Job in the cache with that UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref.Kind != jobKind.Kind {
		return nil
	}
	job, err := c.jobLister.Jobs(namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

// enqueueMatchingJobs wakes every Job whose selector matches an orphan pod,
// so one of them may adopt it.
func (c *Controller) enqueueMatchingJobs(pod *corev1.Pod) {
	jobs, err := c.jobLister.GetPodJobs(pod)
	if err != nil {
		return
	}
	if len(jobs) > 1 {
		c.logger.Warn("more than one job selects the same pod", "pod", pod.Namespace+"/"+pod.Name, "labels", pod.Labels)
	}
	for i := range jobs {
		c.enqueueBatched(keyOf(&jobs[i]))
	}
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// A pod already being deleted when first seen (e.g. after a restart)
		// is not a creation observation.
		c.deletePod(pod, false)
		return
	}
	if ref := controllerOf(pod); ref != nil {
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job == nil {
			return
		}
		key := keyOf(job)
		c.expectations.creationObserved(key)
		c.enqueueBatched(key)
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphanQueue.Add(keyOf(pod))
	}
	c.enqueueMatchingJobs(pod)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || pod.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	if pod.DeletionTimestamp != nil {
		// React to the start of a graceful deletion at once instead of waiting
		// for the pod to go.
		c.deletePod(pod, false)
		return
	}
	finalizerGone := !hasTrackingFinalizer(pod)
	ref, oldRef := controllerOf(pod), controllerOf(oldPod)
	refChanged := !reflect.DeepEqual(ref, oldRef)
	if refChanged && oldRef != nil {
		if job := c.resolveControllerRef(oldPod.Namespace, oldRef); job != nil {
			if finalizerGone {
				c.finalizerExpect.removalObserved(keyOf(job), pod.UID)
			}
			c.enqueueBatched(keyOf(job))
		}
	}
	if ref != nil {
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job == nil {
			return
		}
		if finalizerGone {
			c.finalizerExpect.removalObserved(keyOf(job), pod.UID)
		}
		c.enqueueBatched(keyOf(job))
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphanQueue.Add(keyOf(pod))
	}
	if refChanged || !reflect.DeepEqual(pod.Labels, oldPod.Labels) {
		c.enqueueMatchingJobs(pod)
	}
}

// deletePod handles a pod deletion; final is false for the update that sets
// deletionTimestamp.
func (c *Controller) deletePod(obj any, final bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := controllerOf(pod)
	hasFinalizer := hasTrackingFinalizer(pod)
	if ref == nil {
		// The GC may have orphaned a pod of a Job; free it.
		if hasFinalizer {
			c.orphanQueue.Add(keyOf(pod))
		}
		return
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isFinished(job) {
		// No sync of a live Job will remove this finalizer.
		if hasFinalizer {
			c.orphanQueue.Add(keyOf(pod))
		}
		return
	}
	key := keyOf(job)
	c.expectations.deletionObserved(key)
	if final || !hasFinalizer {
		c.finalizerExpect.removalObserved(key, pod.UID)
	}
	c.enqueueBatched(key)
}

func (c *Controller) addJob(obj any) {
	if job, ok := obj.(*batchv1.Job); ok {
		c.enqueue(keyOf(job), 0)
	}
}

func (c *Controller) updateJob(oldObj, newObj any) {
	oldJob, ok1 := oldObj.(*batchv1.Job)
	job, ok2 := newObj.(*batchv1.Job)
	if !ok1 || !ok2 {
		return
	}
	key := keyOf(job)
	if job.Generation == oldJob.Generation {
		// Status updates, mostly our own: batch them.
		c.enqueueBatched(key)
	} else {
		c.enqueue(key, 0)
	}
	if isFinished(job) && !managedByOther(job) {
		// Backup: a finished Job's pods must not keep their finalizer.
		c.cleanupPodFinalizers(job)
	}
	if job.Status.StartTime == nil || job.Spec.ActiveDeadlineSeconds == nil {
		return
	}
	if old := oldJob.Spec.ActiveDeadlineSeconds; old == nil || *old != *job.Spec.ActiveDeadlineSeconds {
		total := time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
		c.queue.AddAfter(key, total-c.clock.Since(job.Status.StartTime.Time))
	}
}

func (c *Controller) deleteJob(obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if job, ok = tomb.Obj.(*batchv1.Job); !ok {
			return
		}
	}
	c.enqueue(keyOf(job), 0)
	c.cleanupPodFinalizers(job)
}

// cleanupPodFinalizers queues every pod of the Job that still has the
// tracking finalizer for the orphan workers.
func (c *Controller) cleanupPodFinalizers(job *batchv1.Job) {
	objs, err := c.podIndexer.ByIndex(podControllerIndex, job.Namespace+"/"+string(job.UID))
	if err != nil {
		return
	}
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok && hasTrackingFinalizer(pod) {
			c.orphanQueue.Add(keyOf(pod))
		}
	}
}
