package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Upstream's DisruptionTarget condition for pods of deleted nodes.
const (
	reasonDeletionByPodGC = "DeletionByPodGC"
	messageNodeGone       = "PodGC: node no longer exists"
	taintOutOfService     = "node.kubernetes.io/out-of-service"
)

// gc runs one collection.
func (c *Controller) gc(ctx context.Context) {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		c.log.Error("listing pods from cache", "err", err)
		return
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		c.log.Error("listing nodes from cache", "err", err)
		return
	}
	if c.threshold > 0 {
		c.gcTerminated(ctx, pods)
	}
	c.gcTerminating(ctx, pods, nodes)
	c.gcOrphaned(ctx, pods, nodes)
	c.gcUnscheduledTerminating(ctx, pods)
}

func isPodTerminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func isPodEvicted(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted"
}

// sortForDeletion orders evicted pods first, then oldest first, then by name.
func sortForDeletion(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		if ei, ej := isPodEvicted(pods[i]), isPodEvicted(pods[j]); ei != ej {
			return ei
		}
		if !pods[i].CreationTimestamp.Equal(&pods[j].CreationTimestamp) {
			return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
		}
		return pods[i].Name < pods[j].Name
	})
}

// gcTerminated deletes the terminated pods above the threshold.
func (c *Controller) gcTerminated(ctx context.Context, pods []*corev1.Pod) {
	var terminated []*corev1.Pod
	for _, pod := range pods {
		if isPodTerminated(pod) {
			terminated = append(terminated, pod)
		}
	}
	deleteCount := len(terminated) - c.threshold
	if deleteCount <= 0 {
		return
	}
	c.log.Info("garbage collecting terminated pods", "count", deleteCount, "threshold", c.threshold)
	sortForDeletion(terminated)
	c.forEach(terminated[:deleteCount], func(pod *corev1.Pod) error {
		return c.markFailedAndDelete(ctx, pod, nil)
	})
}

// gcTerminating deletes terminating pods on NotReady nodes tainted
// out-of-service.
func (c *Controller) gcTerminating(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	outOfService := sets.New[string]()
	for _, node := range nodes {
		if !nodeReady(node) && hasTaint(node, taintOutOfService) {
			outOfService.Insert(node.Name)
		}
	}
	if outOfService.Len() == 0 {
		return
	}
	var victims []*corev1.Pod
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil && !isPodTerminated(pod) && outOfService.Has(pod.Spec.NodeName) {
			victims = append(victims, pod)
		}
	}
	sortForDeletion(victims)
	c.forEach(victims, func(pod *corev1.Pod) error { return c.markFailedAndDelete(ctx, pod, nil) })
}

// gcOrphaned deletes pods bound to nodes that have been missing for the
// quarantine: missing from the cache, then confirmed missing by a live GET.
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	existing := sets.New[string]()
	for _, node := range nodes {
		existing.Insert(node.Name)
	}
	for _, pod := range pods {
		if pod.Spec.NodeName != "" && !existing.Has(pod.Spec.NodeName) {
			c.nodeQueue.AddAfter(pod.Spec.NodeName, c.quarantine)
		}
	}
	deleted := c.discoverDeletedNodes(ctx, existing)
	var victims []*corev1.Pod
	for _, pod := range pods {
		if deleted.Has(pod.Spec.NodeName) {
			victims = append(victims, pod)
		}
	}
	c.forEach(victims, func(pod *corev1.Pod) error {
		c.log.Info("deleting orphaned pod of a missing node", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
		cond := &corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: reasonDeletionByPodGC, Message: messageNodeGone,
			LastTransitionTime: metav1.NewTime(c.clock.Now()),
		}
		return c.markFailedAndDelete(ctx, pod, cond)
	})
}

// discoverDeletedNodes drains the node names whose quarantine is over and
// returns those still missing, live.
func (c *Controller) discoverDeletedNodes(ctx context.Context, existing sets.Set[string]) sets.Set[string] {
	deleted := sets.New[string]()
	for c.nodeQueue.Len() > 0 {
		name, quit := c.nodeQueue.Get()
		if quit {
			return deleted
		}
		if !existing.Has(name) {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				deleted.Insert(name)
			case err != nil:
				// Requeued by the next collection if still needed.
				c.log.Error("getting node", "node", name, "err", err)
			}
		}
		c.nodeQueue.Done(name)
	}
	return deleted
}

// gcUnscheduledTerminating deletes terminating pods never bound to a node.
func (c *Controller) gcUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	var victims []*corev1.Pod
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil && pod.Spec.NodeName == "" {
			victims = append(victims, pod)
		}
	}
	sortForDeletion(victims)
	c.forEach(victims, func(pod *corev1.Pod) error { return c.markFailedAndDelete(ctx, pod, nil) })
}

// forEach runs fn on pods with bounded parallelism and logs failures.
func (c *Controller) forEach(pods []*corev1.Pod, fn func(*corev1.Pod) error) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.parallelism)
	for _, pod := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(pod); err != nil {
				c.log.Error("force-deleting pod failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
		})
	}
	wg.Wait()
}

type statusPatch struct {
	Status struct {
		Phase      corev1.PodPhase       `json:"phase"`
		Conditions []corev1.PodCondition `json:"conditions,omitempty"`
	} `json:"status"`
}

// markFailedAndDelete moves a non-terminal pod to phase Failed (with cond, if
// given) through the status subresource, so that a pod no kubelet will ever
// update does not stay Running, then deletes it with grace period 0.
func (c *Controller) markFailedAndDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	pods := c.client.CoreV1().Pods(pod.Namespace)
	if !isPodTerminated(pod) {
		var p statusPatch
		p.Status.Phase = corev1.PodFailed
		if cond != nil {
			p.Status.Conditions = []corev1.PodCondition{*cond}
		}
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encoding status patch: %w", err)
		}
		_, err = pods.Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("marking pod failed: %w", err)
		}
	}
	err := pods.Delete(ctx, pod.Name, *metav1.NewDeleteOptions(0))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pod: %w", err)
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(node *corev1.Node, key string) bool {
	for _, taint := range node.Spec.Taints {
		if taint.Key == key {
			return true
		}
	}
	return false
}
