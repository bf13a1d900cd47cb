package node

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/client-go/tools/cache"
)

// maxStatusAttempts bounds the conflict retries of one status write.
const maxStatusAttempts = 3

// syncStatus writes a pod's status if it changed (the workqueue collapses
// the many state changes of a pod into one write), and confirms the
// deletion of a pod whose containers have all stopped.
func (a *Agent) syncStatus(ctx context.Context, key cache.ObjectName) error {
	a.mu.Lock()
	w := a.workers[key]
	a.mu.Unlock()
	if w == nil {
		return nil
	}
	pod := w.latest()
	if cached, err := a.podLister.Pods(key.Namespace).Get(key.Name); apierrors.IsNotFound(err) || (err == nil && cached.UID != w.uid) {
		// Already gone from the API (deleted with grace 0 and no finalizers
		// left): there is nothing to write to, as the kubelet's status
		// manager finds with its GET.
		return nil
	}
	for attempt := 1; ; attempt++ {
		status := w.buildStatus(pod, metav1.NewTime(a.clock.Now()).Rfc3339Copy())
		if statusEqual(&pod.Status, &status) {
			break
		}
		upd := pod.DeepCopy()
		upd.Status = status
		res, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			w.observe(res)
			pod = res
			break
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxStatusAttempts {
			return fmt.Errorf("updating status of %s: %w", key, err)
		}
		fresh, err := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading pod %s: %w", key, err)
		}
		if fresh.UID != w.uid {
			return nil
		}
		w.observe(fresh)
		pod = fresh
	}
	if pod.DeletionTimestamp != nil && isTerminal(pod) && w.isFinished() {
		return a.confirmDeletion(ctx, pod)
	}
	return nil
}

// observe records pod as the latest object unless the worker already has
// a newer one (the informer may be ahead of a write's response).
func (w *podWorker) observe(pod *corev1.Pod) {
	w.mu.Lock()
	if rvLess(w.pod.ResourceVersion, pod.ResourceVersion) {
		w.pod = pod
	}
	w.mu.Unlock()
}

func (w *podWorker) isFinished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished
}

// rvLess compares resourceVersions (etcd revisions).
func rvLess(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return a != b
	}
	return x < y
}

// statusEqual compares two statuses as the API stores them: timestamps at
// second precision, quantities by value, nil and empty lists alike, so a
// status read back from the API equals the one written. (It used to compare
// their JSON, which cost a few percent of the server's CPU in a large
// cascade.)
func statusEqual(a, b *corev1.PodStatus) bool {
	return statusEqualities.DeepEqual(a, b)
}

var statusEqualities = conversion.EqualitiesOrDie(
	func(a, b metav1.Time) bool { return a.Unix() == b.Unix() },
	func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 },
)
