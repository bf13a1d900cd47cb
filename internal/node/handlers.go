package node

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// LogHandler returns the pods/log handler served from this agent's runtime:
// pods are read through the agent's client, container states from the
// agent's live view when it runs the pod (fresher than the stored status).
func (a *Agent) LogHandler() *LogHandler {
	h, _ := NewLogHandler(LogHandlerConfig{
		Pods: PodGetterFunc(func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
			return a.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		}),
		Runtime: a.rt, Status: a.liveStatus, Logger: a.logger, Clock: a.clock,
	})
	return h
}

// EvictionHandler returns the pods/eviction handler using the agent's client.
func (a *Agent) EvictionHandler() *EvictionHandler {
	h, _ := NewEvictionHandler(a.client.CoreV1(), a.logger)
	return h
}

// liveStatus is the status the agent would write now for a pod it runs.
func (a *Agent) liveStatus(uid types.UID) (corev1.PodStatus, bool) {
	a.mu.Lock()
	var w *podWorker
	for _, cand := range a.workers {
		if cand.uid == uid {
			w = cand
			break
		}
	}
	a.mu.Unlock()
	if w == nil {
		return corev1.PodStatus{}, false
	}
	return w.buildStatus(w.latest(), metav1.NewTime(a.clock.Now()).Rfc3339Copy()), true
}
