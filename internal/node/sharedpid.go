package node

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// A pod with shareProcessNamespace gets what the kubelet's sandbox gives
// it: one PID namespace for all its containers, whose PID 1 is a pause
// process living as long as the pod. Skiff has no sandbox process, so the
// agent starts a built-in pause as a hidden container (not in the pod's
// status) and every container joins its namespace.
const (
	pidHolderName  = "POD" // never a container's name: those are lower case
	pidHolderImage = "registry.k8s.io/pause:3.10"
)

// startPIDHolder starts the pod's PID namespace holder when the pod asks
// to share its process namespace and the runtime has namespaces.
func (w *podWorker) startPIDHolder(ctx context.Context, pod *corev1.Pod) (crt.ContainerID, bool) {
	if pod.Spec.ShareProcessNamespace == nil || !*pod.Spec.ShareProcessNamespace || !w.a.rt.Capabilities().Namespaces {
		return "", false
	}
	spec := crt.ContainerSpec{PodUID: string(pod.UID), PodNamespace: pod.Namespace, PodName: pod.Name,
		Name: pidHolderName, Image: pidHolderImage}
	id, err := w.a.rt.StartContainer(ctx, spec)
	if err != nil {
		// The containers then run each in its own namespace.
		w.logger.Warn("starting the pod's shared PID namespace", "err", err)
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create the shared process namespace: %v", err)
		return "", false
	}
	w.mu.Lock()
	w.pidHolder = id
	w.mu.Unlock()
	return id, true
}

// stopPIDHolder ends the shared PID namespace once no container runs.
func (w *podWorker) stopPIDHolder(id crt.ContainerID) {
	if err := w.a.rt.Stop(w.a.killCtx, id, minKillGrace); err != nil {
		w.logger.Warn("stopping the pod's shared PID namespace", "err", err)
	}
	_ = w.a.rt.Remove(w.a.killCtx, id)
}

// pidNamespaceFor is the container whose PID namespace st joins, "" for a
// namespace of its own: an ephemeral container's target, else the pod's
// shared namespace.
func (w *podWorker) pidNamespaceFor(st *ctrState) (crt.ContainerID, error) {
	w.mu.Lock()
	holder := w.pidHolder
	w.mu.Unlock()
	if holder != "" {
		return holder, nil // the target shares it too
	}
	if st.target != "" {
		return w.targetID(st.target)
	}
	return "", nil
}
