package node

// Ephemeral containers (kubectl debug), as the kubelet runs them: a
// container added through pods/ephemeralcontainers starts once the pod's
// volumes are ready (init containers need not have finished), runs once
// (never restarted, no probes, no hooks) and is stopped when the pod's
// own containers are done, or with the pod. It has no say in the pod's
// phase or readiness. With targetContainerName it joins the target's PID
// namespace (it waits, with CreateContainerConfigError, while the target
// does not run).

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// wakeEphemeral tells the pod's ephemeral container starter to look for new
// ones.
func (w *podWorker) wakeEphemeral() {
	select {
	case w.ephemeralWake <- struct{}{}:
	default:
	}
}

// startEphemeralLocked starts the ephemeral container starter once the
// pod has an ephemeral container and its volumes are ready; w.mu is held.
// Most pods never have one, and never pay for the goroutine.
func (w *podWorker) startEphemeralLocked() {
	if w.ephemeralRunning || w.ephemeralClosed || w.ephemeralVols == nil || len(w.pod.Spec.EphemeralContainers) == 0 {
		return
	}
	w.ephemeralRunning = true
	w.ephemeralWG.Add(1)
	go w.runEphemeral(w.ephemeralCtx, w.ephemeralVols)
}

// runEphemeral starts the pod's ephemeral containers as they are added,
// until stopEphemeral. It runs as one of w.ephemeralWG's goroutines.
func (w *podWorker) runEphemeral(ctx context.Context, vols *podVolumes) {
	defer w.ephemeralWG.Done()
	for {
		w.startNewEphemeral(ctx, vols)
		select {
		case <-w.ephemeralWake:
		case <-w.ephemeralStop:
			return
		}
	}
}

// startNewEphemeral starts the ephemeral containers of the latest pod
// object that have no state yet.
func (w *podWorker) startNewEphemeral(ctx context.Context, vols *podVolumes) {
	w.mu.Lock()
	pod := w.pod
	known := make(map[string]bool, len(w.ephemeralStates))
	for _, st := range w.ephemeralStates {
		known[st.name] = true
	}
	var started []*ctrState
	var specs []*corev1.Container
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		if known[ec.Name] {
			continue
		}
		st := &ctrState{name: ec.Name, image: ec.Image, stop: w.ephemeralStop, target: ec.TargetContainerName, ephemeral: true,
			state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
		w.ephemeralStates = append(w.ephemeralStates, st)
		started = append(started, st)
		specs = append(specs, (*corev1.Container)(&ec.EphemeralContainerCommon))
	}
	w.mu.Unlock()
	for i, st := range started {
		w.logger.Info("starting ephemeral container", "container", st.name)
		w.ephemeralWG.Add(1) // runEphemeral's own count keeps the group open
		go func() {
			defer w.ephemeralWG.Done()
			w.runContainerLoop(ctx, st, specs[i], vols, corev1.RestartPolicyNever)
		}()
	}
	if len(started) > 0 {
		w.notify()
	}
}

// stopEphemeral ends the starter, stops the ephemeral containers that run
// (with the pod's grace period) and waits for them.
func (w *podWorker) stopEphemeral() {
	w.mu.Lock()
	w.ephemeralClosed = true // no starter from now on: Wait may begin
	w.mu.Unlock()
	w.ephemeralStopOnce.Do(func() { close(w.ephemeralStop) })
	w.ephemeralWG.Wait()
}

// targetID is the runtime ID of the running container named target, for an
// ephemeral container that joins its PID namespace.
func (w *podWorker) targetID(target string) (crt.ContainerID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.allStates() {
		if st.name == target && st.state.Running != nil {
			return st.id, nil
		}
	}
	return "", fmt.Errorf("target container %q is not running", target)
}
