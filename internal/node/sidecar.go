package node

// Sidecar containers: init containers with restartPolicy Always, as the
// kubelet runs them (KEP-753). One starts in its turn among the init
// containers, and the next init container starts once it has started (it
// runs, its postStart hook returned and its startup probe passed); it is
// restarted whenever it exits, its readiness counts for the pod's, and
// neither its exits nor its exit codes decide the pod's phase. When the
// pod's own containers are done, or the pod stops, the sidecars are
// stopped last, in the reverse of their order.

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// startSidecar runs sidecar st in the background and waits until it has
// started; it reports false when the pod must stop first.
func (w *podWorker) startSidecar(ctx context.Context, st *ctrState, c *corev1.Container, vols *podVolumes) bool {
	stop := make(chan struct{})
	w.mu.Lock()
	st.stop, st.stopSidecar = stop, stop
	st.firstStarted, st.loopDone = make(chan struct{}), make(chan struct{})
	w.sidecars = append(w.sidecars, st)
	w.mu.Unlock()
	go func() {
		defer close(st.loopDone)
		w.runContainerLoop(ctx, st, c, vols, corev1.RestartPolicyAlways)
	}()
	select {
	case <-st.firstStarted:
		return true
	case <-w.stopCh:
		return false
	}
}

// markStartedLocked records that st has started (w.mu held): the next init
// container may start once a sidecar has.
func (st *ctrState) markStartedLocked() {
	st.started = true
	if st.firstStarted != nil {
		st.startedOnce.Do(func() { close(st.firstStarted) })
	}
}

// stopSidecars stops the pod's sidecars, the last started first, each
// once the ones after it have exited.
func (w *podWorker) stopSidecars() {
	w.mu.Lock()
	sidecars := append([]*ctrState(nil), w.sidecars...)
	w.mu.Unlock()
	for i := len(sidecars) - 1; i >= 0; i-- {
		st := sidecars[i]
		close(st.stopSidecar)
		<-st.loopDone
	}
}

// stopChFor is the channel whose closing stops st when the pod stops: the
// pod's stopCh, but none for a sidecar, which the pod's end stops after
// the other containers (stopSidecars).
func (w *podWorker) stopChFor(st *ctrState) <-chan struct{} {
	if st.sidecar {
		return nil
	}
	return w.stopCh
}

// sidecarStatesLocked lists the pod's sidecars in spec order (w.mu held):
// their readiness counts for the pod's, before the containers'.
func (w *podWorker) sidecarStatesLocked() []*ctrState {
	var out []*ctrState
	for _, st := range w.initStates {
		if st.sidecar {
			out = append(out, st)
		}
	}
	return out
}
