package node

// Container probes, as the kubelet's prober: every attempt of a container
// with probes gets a probeSet (probe_worker.go) that runs from its start to
// its end, with handlers in probe_handlers.go. The results live in the
// container's ctrState, guarded by the pod worker's mu:
//
//   - started: false while a startup probe has not passed; it gates the
//     liveness and readiness probes and is containerStatuses[].started.
//   - ready: false until the readiness probe passes (true at once without
//     one); ready && started && running is containerStatuses[].ready, which
//     drives the ContainersReady and Ready conditions.
//   - probeKilled: a liveness or startup probe failed and the agent stopped
//     the container; the container loop then restarts it unless the
//     restartPolicy is Never, whatever its exit code.

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Event reasons of the prober, as the kubelet's.
const (
	eventUnhealthy    = "Unhealthy"
	eventProbeWarning = "ProbeWarning"
	eventKilling      = "Killing"
)

// containerRef is the object probe events are about: the container within
// the pod, as the kubelet's container references.
func containerRef(pod *corev1.Pod, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: containerFieldPath(pod, name),
	}
}

// containerFieldPath names a container within its pod, as the kubelet's
// container references do: spec.initContainers{name} for an init container,
// spec.ephemeralContainers{name} for an ephemeral one.
func containerFieldPath(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return fmt.Sprintf("spec.initContainers{%s}", name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return fmt.Sprintf("spec.ephemeralContainers{%s}", name)
		}
	}
	return fmt.Sprintf("spec.containers{%s}", name)
}

// containerStarted reports whether st's startup probe has passed.
func (w *podWorker) containerStarted(st *ctrState) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return st.started
}

// setStarted records that attempt id passed its startup probe.
func (w *podWorker) setStarted(st *ctrState, id crt.ContainerID) {
	w.mu.Lock()
	changed := st.id == id && st.state.Running != nil && !st.started
	if changed {
		st.markStartedLocked()
	}
	w.mu.Unlock()
	if changed {
		w.notify()
	}
}

// setReady records attempt id's readiness.
func (w *podWorker) setReady(st *ctrState, id crt.ContainerID, ready bool) {
	w.mu.Lock()
	changed := st.id == id && st.state.Running != nil && st.ready != ready
	if changed {
		st.ready = ready
	}
	w.mu.Unlock()
	if changed {
		w.notify()
	}
}

// restartAfterProbeKill reports whether the container loop restarts st
// because a probe killed it: always, unless the restartPolicy is Never.
func (w *podWorker) restartAfterProbeKill(st *ctrState, policy corev1.RestartPolicy) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return st.probeKilled && policy != corev1.RestartPolicyNever
}

// killForProbe stops the container whose liveness or startup probe failed,
// with the probe's terminationGracePeriodSeconds if set, else the pod's.
func (w *podWorker) killForProbe(ctx context.Context, st *ctrState, t probeTarget, kind probeKind, spec *corev1.Probe) {
	pod := w.latest()
	msg := fmt.Sprintf("Container %s failed %s probe", t.c.Name, strings.ToLower(kind.String()))
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		msg += ", will be restarted"
	}
	w.mu.Lock()
	if st.id == t.id {
		st.probeKilled = true
	}
	w.mu.Unlock()
	w.logger.Info("killing container", "container", t.c.Name, "reason", msg)
	grace := specGrace(pod)
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	// ctx ends with the attempt: it ends the preStop hook too.
	w.killContainer(ctx, ctx, t.c, t.id, msg, grace)
}
