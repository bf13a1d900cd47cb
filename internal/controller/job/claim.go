package job

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"
)

// podsForJob returns the pods the Job controls after adopting matching
// orphans (controller reference plus tracking finalizer) and releasing
// controlled pods that no longer match its selector. Returned pods are
// shared with the cache unless adopted.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("converting Job selector: %w", err)
	}
	owned, err := c.podIndexer.ByIndex(podControllerIndex, job.Namespace+"/"+string(job.UID))
	if err != nil {
		return nil, fmt.Errorf("listing pods of job: %w", err)
	}
	orphans, err := c.podIndexer.ByIndex(podControllerIndex, job.Namespace+"/")
	if err != nil {
		return nil, fmt.Errorf("listing orphan pods: %w", err)
	}
	claim := &claimer{c: c, job: job, selector: selector}
	pods := make([]*corev1.Pod, 0, len(owned))
	for _, o := range owned {
		if pod, ok := o.(*corev1.Pod); ok && claim.keepOwned(ctx, pod) {
			pods = append(pods, pod)
		}
	}
	for _, o := range orphans {
		if pod, ok := o.(*corev1.Pod); ok {
			if adopted := claim.adopt(ctx, pod); adopted != nil {
				pods = append(pods, adopted)
			}
		}
	}
	return pods, utilerrors.NewAggregate(claim.errs)
}

// claimer adopts and releases pods for one sync.
type claimer struct {
	c        *Controller
	job      *batchv1.Job
	selector labels.Selector
	errs     []error

	// recheck makes the live read that guards adoption happen at most once.
	recheck    sync.Once
	recheckErr error
}

// keepOwned reports whether a controlled pod stays with the Job, releasing
// it when its labels no longer match (unless the Job is being deleted).
func (cl *claimer) keepOwned(ctx context.Context, pod *corev1.Pod) bool {
	if cl.selector.Matches(labels.Set(pod.Labels)) {
		return true
	}
	if cl.job.DeletionTimestamp != nil {
		return false
	}
	patch, err := releasePatch(pod.UID, cl.job.UID)
	if err == nil {
		_, err = cl.c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	}
	// NotFound: the pod is gone. Invalid: it has no such owner or another UID.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		cl.errs = append(cl.errs, fmt.Errorf("releasing pod %s: %w", pod.Name, err))
	}
	return false
}

// adopt claims a matching orphan and returns it as the Job now sees it, or
// nil when the pod is not (or cannot be) adopted.
func (cl *claimer) adopt(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	if cl.job.DeletionTimestamp != nil || pod.DeletionTimestamp != nil || !cl.selector.Matches(labels.Set(pod.Labels)) {
		return nil
	}
	cl.recheck.Do(func() { cl.recheckErr = cl.recheckJob(ctx) })
	if cl.recheckErr != nil {
		cl.errs = append(cl.errs, cl.recheckErr)
		return nil
	}
	patch, err := adoptPatch(pod.UID, cl.job)
	if err == nil {
		_, err = cl.c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		if !apierrors.IsNotFound(err) {
			cl.errs = append(cl.errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
		}
		return nil
	}
	adopted := pod.DeepCopy()
	adopted.OwnerReferences = append(adopted.OwnerReferences, *newControllerRef(cl.job))
	if !hasTrackingFinalizer(adopted) {
		adopted.Finalizers = append(adopted.Finalizers, batchv1.JobTrackingFinalizer)
	}
	return adopted
}

// recheckJob reads the Job live before the first adoption: a Job deleted
// after the cache was filled must not adopt.
func (cl *claimer) recheckJob(ctx context.Context) error {
	fresh, err := cl.c.client.BatchV1().Jobs(cl.job.Namespace).Get(ctx, cl.job.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("rechecking job before adoption: %w", err)
	}
	if fresh.UID != cl.job.UID {
		return fmt.Errorf("original Job %s/%s is gone: got uid %s, wanted %s", cl.job.Namespace, cl.job.Name, fresh.UID, cl.job.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s/%s has just been deleted at %v", cl.job.Namespace, cl.job.Name, fresh.DeletionTimestamp)
	}
	return nil
}

type patchMeta struct {
	UID             types.UID        `json:"uid"`
	OwnerReferences []map[string]any `json:"ownerReferences"`
	Finalizers      []string         `json:"finalizers,omitempty"`
	DeleteFinalizer []string         `json:"$deleteFromPrimitiveList/finalizers,omitempty"`
}

// adoptPatch adds the controller reference and the tracking finalizer; the
// pod UID makes the patch fail if the pod was replaced.
func adoptPatch(podUID types.UID, job *batchv1.Job) ([]byte, error) {
	ref := newControllerRef(job)
	return json.Marshal(map[string]patchMeta{"metadata": {
		UID: podUID,
		OwnerReferences: []map[string]any{{
			"apiVersion": ref.APIVersion, "kind": ref.Kind, "name": ref.Name, "uid": ref.UID,
			"controller": true, "blockOwnerDeletion": true,
		}},
		Finalizers: []string{batchv1.JobTrackingFinalizer},
	}})
}

// releasePatch drops the Job's owner reference and the tracking finalizer.
func releasePatch(podUID, jobUID types.UID) ([]byte, error) {
	return json.Marshal(map[string]patchMeta{"metadata": {
		UID:             podUID,
		OwnerReferences: []map[string]any{{"$patch": "delete", "uid": jobUID}},
		DeleteFinalizer: []string{batchv1.JobTrackingFinalizer},
	}})
}

// removeFinalizerPatch is upstream's exact finalizer removal patch.
var removeFinalizerPatch = []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + batchv1.JobTrackingFinalizer + `"]}}`)

func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("removing tracking finalizer from pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// syncOrphanPod removes the tracking finalizer of a pod no live, unfinished
// Job of ours tracks: an orphan, a pod of a deleted Job, or a pod of a
// finished Job. Pods of Jobs managed by another controller are left alone.
func (c *Controller) syncOrphanPod(ctx context.Context, key cache.ObjectName) error {
	pod, err := c.podLister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting orphan pod: %w", err)
	}
	if ref := controllerOf(pod); ref != nil {
		if ref.Kind != jobKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil
		}
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job != nil && (managedByOther(job) || !isFinished(job)) {
			return nil
		}
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if err := c.removeFinalizer(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
