package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Container waiting reasons, as the kubelet reports them.
const (
	reasonCrashLoopBackOff = "CrashLoopBackOff"
	reasonConfigError      = "CreateContainerConfigError"
)

// containerIDPrefix is the scheme of containerStatuses[].containerID.
const containerIDPrefix = "skiff://"

// runContainerLoop runs one container, restarting it in place as policy
// says (with back-off), until it ends for good or the pod must stop. It
// returns the last exit code and whether the container ran to its end
// (false when the pod was stopped first).
func (w *podWorker) runContainerLoop(ctx context.Context, st *ctrState, c *corev1.Container, vols *podVolumes, policy corev1.RestartPolicy) (int32, bool) {
	defer st.openStartGate()
	if st.after != nil {
		select {
		case <-st.after:
		case <-w.stopCh:
			return 0, false
		}
	}
	for {
		if w.stopping() || isClosed(st.stop) {
			return 0, false
		}
		spec, err := w.containerSpec(ctx, c, st, vols)
		if err != nil {
			st.openStartGate() // the kubelet goes on with the next container
			w.setState(st, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonConfigError, Message: err.Error()}})
			w.a.recorder.Eventf(w.latest(), corev1.EventTypeWarning, "Failed", "Error: %v", err)
			if !w.sleep(w.a.retryInterval()) {
				return 0, false
			}
			continue
		}
		code := w.runOnce(ctx, st, spec, c)
		if w.stopping() || isClosed(st.stop) {
			return code, false
		}
		if !shouldRestart(policy, code) && !w.restartAfterProbeKill(st, policy) {
			return code, true
		}
		delay := w.prepareRestart(st, c.Name)
		if !w.sleep(delay) {
			return code, false
		}
	}
}

// isClosed reports whether ch is closed; a nil channel never is.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func shouldRestart(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return false
}

// runOnce starts one attempt of the container and waits for its end.
func (w *podWorker) runOnce(ctx context.Context, st *ctrState, spec crt.ContainerSpec, c *corev1.Container) int32 {
	rt := w.a.rt
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		st.openStartGate() // nothing to wait for: the next container may start alongside
	}
	id, err := rt.StartContainer(ctx, spec)
	if errors.Is(err, crt.ErrExists) { // left over by an earlier agent run
		_ = rt.Remove(ctx, spec.ID())
		id, err = rt.StartContainer(ctx, spec)
	}
	if err != nil {
		st.openStartGate()
		msg := startErrorMessage(err)
		now := metav1.NewTime(w.a.clock.Now()).Rfc3339Copy()
		w.mu.Lock()
		st.id = spec.ID()
		st.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: crt.StartErrorExitCode, Reason: crt.ReasonStartError, Message: msg,
			StartedAt: metav1.Unix(0, 0), FinishedAt: now, ContainerID: containerIDPrefix + string(spec.ID())}}
		w.mu.Unlock()
		w.notify()
		w.a.recorder.Eventf(w.latest(), corev1.EventTypeWarning, "Failed", "Error: %s", msg)
		return crt.StartErrorExitCode
	}
	started := w.a.clock.Now()
	if s, err := rt.Status(ctx, id); err == nil && !s.StartedAt.IsZero() {
		started = s.StartedAt
	}
	setRunning := func() {
		w.mu.Lock()
		st.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started).Rfc3339Copy()}}
		st.started, st.ready, st.probeKilled = false, c.ReadinessProbe == nil, false
		if c.StartupProbe == nil {
			st.markStartedLocked()
		}
		w.mu.Unlock()
		w.notify()
	}
	w.mu.Lock()
	st.id = id
	w.mu.Unlock()
	hasPostStart := c.Lifecycle != nil && c.Lifecycle.PostStart != nil
	if !hasPostStart {
		setRunning() // first: the status write need not wait for the events
	}
	// The kubelet's two events for a container it creates and starts; the
	// runtime does both in one step.
	ref := containerRef(w.latest(), c.Name)
	w.a.recorder.Eventf(ref, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	w.a.recorder.Eventf(ref, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	var hookFailure string
	if hasPostStart {
		hookFailure = w.postStart(ctx, c, id)
		st.openStartGate()
		if hookFailure == "" {
			setRunning()
		}
	}
	var probes *probeSet
	if hookFailure == "" {
		probes = w.startProbes(ctx, st, c, id, started)
	}
	exit := w.waitContainer(ctx, st, c, id)
	probes.stop()
	w.mu.Lock()
	st.hookFailure = hookFailure
	w.mu.Unlock()
	msg, _ := rt.TerminationMessage(ctx, id, c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError)
	if msg == "" {
		msg = exit.Message
	}
	finished := exit.FinishedAt
	if finished.IsZero() {
		finished = w.a.clock.Now()
	}
	reason := exit.Reason
	if reason == "" {
		reason = crt.ReasonError
		if exit.ExitCode == 0 {
			reason = crt.ReasonCompleted
		}
	}
	w.setState(st, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: exit.ExitCode, Signal: int32(exit.Signal), Reason: reason, Message: msg,
		StartedAt: metav1.NewTime(started).Rfc3339Copy(), FinishedAt: metav1.NewTime(finished).Rfc3339Copy(),
		ContainerID: containerIDPrefix + string(id)}})
	if st.restartCount >= 2 { // keep the current and the previous attempt
		old := spec
		old.Attempt = st.restartCount - 2
		_ = rt.Remove(ctx, old.ID())
	}
	return exit.ExitCode
}

// waitContainer waits for the container's exit; when the pod must stop
// first, it kills the container with the pod's grace period.
func (w *podWorker) waitContainer(ctx context.Context, st *ctrState, c *corev1.Container, id crt.ContainerID) crt.ExitStatus {
	type result struct {
		exit crt.ExitStatus
		err  error
	}
	ch := make(chan result, 1)
	running, exited := ctx, context.CancelFunc(func() {})
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		running, exited = context.WithCancel(ctx) // ends the hook with the container
	}
	defer exited()
	go func() {
		exit, err := w.a.rt.Wait(ctx, id)
		exited()
		ch <- result{exit, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-w.stopChFor(st):
		w.killContainer(ctx, running, c, id, "", w.grace())
		r = <-ch
	case <-st.stop: // nil but for ephemeral containers and sidecars
		grace := w.specGrace()
		if w.stopping() {
			grace = w.graceLeft()
		}
		w.killContainer(ctx, running, c, id, "", grace)
		r = <-ch
	}
	if r.err != nil {
		w.logger.Warn("waiting for container", "container", string(id), "err", r.err)
		return crt.ExitStatus{ExitCode: 137, Reason: reasonUnknownContainer, Message: messageUnknownContainer}
	}
	return r.exit
}

// prepareRestart moves the finished attempt to lastState, counts the
// restart and returns the back-off before the next start.
func (w *podWorker) prepareRestart(st *ctrState, name string) time.Duration {
	pod := w.latest()
	w.mu.Lock()
	st.restartCount++
	delay := w.a.backoff(st.restartCount)
	st.last = st.state
	st.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	if st.hookFailure != "" { // the kubelet's reason cache: the failed start step, until a back-off says more
		st.state.Waiting = &corev1.ContainerStateWaiting{Reason: reasonPostStartHookError, Message: st.hookFailure}
	}
	if delay > 0 {
		st.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, name, pod.Name, pod.Namespace, pod.UID)}}
	}
	w.mu.Unlock()
	w.notify()
	if delay > 0 {
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
	}
	return delay
}

func (w *podWorker) setState(st *ctrState, s corev1.ContainerState) {
	w.mu.Lock()
	st.state = s
	w.mu.Unlock()
	w.notify()
}

// startErrorMessage is the terminated.message of a container that failed
// to start.
func startErrorMessage(err error) string {
	var se *crt.StartError
	if errors.As(err, &se) {
		return se.Message
	}
	return err.Error()
}
