package node

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// syncPod reconciles one pod of this node with its worker: it starts a
// worker for a new pod, passes updates (deletion) on, and cleans up after a
// pod that is gone from the API.
func (a *Agent) syncPod(ctx context.Context, key cache.ObjectName) error {
	pod, err := a.podLister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		a.podGone(key, nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pod from cache: %w", err)
	}
	a.mu.Lock()
	w := a.workers[key]
	if w != nil && w.uid != pod.UID {
		a.mu.Unlock()
		a.podGone(key, w) // the name now belongs to a new pod
		a.mu.Lock()
		w = a.workers[key]
	}
	if w == nil {
		switch {
		case isTerminal(pod) || a.lost[pod.UID]:
			a.mu.Unlock()
			if pod.DeletionTimestamp != nil {
				return a.confirmDeletion(ctx, pod)
			}
			return nil
		}
		w = newPodWorker(a, pod)
		a.workers[key] = w
		a.podWG.Add(1)
		go func() {
			defer a.podWG.Done()
			w.run(a.killCtx)
		}()
	}
	a.mu.Unlock()
	w.update(pod)
	a.statusQueue.Add(key)
	return nil
}

// podGone stops and forgets the worker of a pod that left the API (or whose
// name was taken by a new pod), then removes its sandbox.
func (a *Agent) podGone(key cache.ObjectName, w *podWorker) {
	a.mu.Lock()
	if w == nil {
		w = a.workers[key]
	}
	if w == nil || a.workers[key] != w {
		a.mu.Unlock()
		return
	}
	delete(a.workers, key)
	a.mu.Unlock()
	w.terminate(w.specGrace(), stopRemoved)
	a.podWG.Add(1)
	go func() {
		defer a.podWG.Done()
		<-w.done
		if err := a.rt.RemoveSandbox(a.killCtx, string(w.uid)); err != nil {
			w.logger.Warn("removing pod sandbox", "err", err)
		}
		a.mu.Lock()
		delete(a.lost, w.uid)
		a.mu.Unlock()
	}()
}

// confirmDeletion finishes a graceful deletion once the pod's containers
// have stopped, as the kubelet's status manager: DELETE with grace 0 and the
// pod's UID as precondition. Finalizers may keep the object after it.
func (a *Agent) confirmDeletion(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0 {
		return nil // already confirmed (finalizers keep it) or forced
	}
	opts := metav1.NewDeleteOptions(0)
	opts.Preconditions = metav1.NewUIDPreconditions(string(pod.UID))
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, *opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("confirming deletion of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.logger.Debug("pod deletion confirmed", "pod", pod.Namespace+"/"+pod.Name)
	return nil
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// gracePeriod is the grace a deletion asks for.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	return specGrace(pod)
}

// specGrace is the pod's terminationGracePeriodSeconds (default 30s).
func specGrace(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}
