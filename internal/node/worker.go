package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// stopReason says why a pod's containers are being stopped.
type stopReason int

const (
	stopNone     stopReason = iota
	stopDeleted             // the pod has a deletionTimestamp
	stopDeadline            // activeDeadlineSeconds passed
	stopShutdown            // the agent is shutting down
	stopRemoved             // the pod object is gone from the API
)

// Pod-level reasons and messages the agent reports.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
	reasonUnknownContainer  = "ContainerStatusUnknown"
	messageUnknownContainer = "The container could not be located when the pod was terminated"
)

// ctrState is the agent's view of one container of a pod.
type ctrState struct {
	name         string
	image        string
	init         bool
	restartCount int32
	// id is the runtime ID of the current (or last) container, "" before
	// the first start.
	id    crt.ContainerID
	state corev1.ContainerState
	last  corev1.ContainerState
	// Probe results of the current attempt (see probe.go): started (startup
	// probe passed, or none), ready (readiness probe passed, or none) and
	// probeKilled (a liveness or startup probe failure stopped it).
	started, ready, probeKilled bool
	// hookFailure is the message of the attempt's failed postStart hook;
	// the next attempt waits with it (lifecycle.go).
	hookFailure string

	// The kubelet starts a pod's containers one after another, so a
	// postStart hook holds back the next container: startGate is closed
	// once this container's first attempt started and its hook returned
	// (or the container loop ended), and after is the previous container's
	// startGate (nil for the first container and for init containers).
	startGate chan struct{}
	gateOnce  sync.Once
	after     <-chan struct{}

	// stop, for an ephemeral container or a sidecar, is closed when the
	// pod's own containers are done (or, for a sidecar, stopped): the
	// container is then stopped as for the pod's end (ephemeral.go,
	// sidecar.go). Nil for the others. target is an ephemeral container's
	// targetContainerName.
	stop      <-chan struct{}
	target    string
	ephemeral bool

	// A sidecar's (sidecar.go): stopSidecar is its stop, firstStarted is
	// closed when it first started, loopDone when its loop returned.
	sidecar      bool
	stopSidecar  chan struct{}
	firstStarted chan struct{}
	startedOnce  sync.Once
	loopDone     chan struct{}
}

// openStartGate lets the pod's next container start.
func (st *ctrState) openStartGate() {
	if st.startGate != nil {
		st.gateOnce.Do(func() { close(st.startGate) })
	}
}

// terminalStatus is the pod's final phase once decided.
type terminalStatus struct {
	phase           corev1.PodPhase
	reason, message string
}

// podWorker runs one pod: its goroutine (run) creates the sandbox, runs the
// init containers in order and then the containers, restarting them as the
// restart policy says, until they are done or the pod must stop.
type podWorker struct {
	a      *Agent
	key    cache.ObjectName
	uid    types.UID
	logger *slog.Logger

	// mu guards the fields below: the worker's goroutines write them, the
	// status workers and the log handler read them.
	mu         sync.Mutex
	pod        *corev1.Pod // latest object seen
	startTime  *metav1.Time
	initStates []*ctrState
	ctrStates  []*ctrState
	// ephemeralStates are the ephemeral containers started so far.
	ephemeralStates []*ctrState
	// sidecars are the sidecars started so far, in order.
	sidecars []*ctrState
	// pidHolder holds the pod's shared PID namespace (sharedpid.go).
	pidHolder    crt.ContainerID
	sandboxReady bool
	initialized  bool
	stopReason   stopReason
	stopGrace    time.Duration
	stopAt       time.Time // when stopGrace began
	terminal     *terminalStatus
	finished     bool // run returned: no container runs any more

	// stopCh is closed (once, under mu) when the pod must stop.
	stopCh chan struct{}
	// done is closed when run returns.
	done chan struct{}

	// Ephemeral containers (ephemeral.go): the starter runs from the first
	// one on; update wakes it, ephemeralStop ends it, ephemeralWG counts it
	// and the containers' loops. Under mu: the run's context and volumes
	// once the sandbox is ready, whether the starter runs, and whether it
	// may still start.
	ephemeralWake     chan struct{}
	ephemeralStop     chan struct{}
	ephemeralStopOnce sync.Once
	ephemeralWG       sync.WaitGroup
	ephemeralCtx      context.Context
	ephemeralVols     *podVolumes
	ephemeralRunning  bool
	ephemeralClosed   bool
}

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, key: cache.MetaObjectToName(pod), uid: pod.UID, pod: pod,
		logger: a.logger.With("pod", pod.Namespace+"/"+pod.Name, "uid", string(pod.UID)),
		stopCh: make(chan struct{}), done: make(chan struct{}),
		ephemeralWake: make(chan struct{}, 1), ephemeralStop: make(chan struct{}),
	}
	waiting := "ContainerCreating"
	if len(pod.Spec.InitContainers) > 0 {
		waiting = "PodInitializing"
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		w.initStates = append(w.initStates, &ctrState{name: c.Name, image: c.Image, init: true, sidecar: isSidecar(c),
			state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}})
	}
	var after <-chan struct{}
	for _, c := range pod.Spec.Containers {
		st := &ctrState{name: c.Name, image: c.Image, startGate: make(chan struct{}), after: after,
			state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}}
		w.ctrStates = append(w.ctrStates, st)
		after = st.startGate
	}
	return w
}

// update records the latest pod object and starts termination on deletion.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	if w.pod.ResourceVersion == "" || !rvLess(pod.ResourceVersion, w.pod.ResourceVersion) {
		w.pod = pod
	}
	w.startEphemeralLocked()
	w.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		w.terminate(deletionGrace(pod), stopDeleted)
	}
	if len(pod.Spec.EphemeralContainers) > 0 {
		w.wakeEphemeral()
	}
}

// latest returns the latest pod object (shared, read-only).
func (w *podWorker) latest() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) specGrace() time.Duration { return specGrace(w.latest()) }

// terminate asks the pod to stop within grace. The first call closes
// stopCh (the container loops then stop their containers); a later call
// with a shorter grace shortens the running stops.
func (w *podWorker) terminate(grace time.Duration, reason stopReason) {
	grace = max(grace, 0)
	w.mu.Lock()
	if w.stopReason == stopNone {
		w.stopReason, w.stopGrace, w.stopAt = reason, grace, w.a.clock.Now()
		close(w.stopCh)
		w.mu.Unlock()
		w.notify()
		return
	}
	if grace >= w.stopGrace {
		w.mu.Unlock()
		return
	}
	w.stopGrace, w.stopAt = grace, w.a.clock.Now()
	var running []crt.ContainerID
	for _, st := range w.allStates() {
		if st.state.Running != nil {
			running = append(running, st.id)
		}
	}
	w.mu.Unlock()
	for _, id := range running {
		w.a.podWG.Add(1)
		go func() {
			defer w.a.podWG.Done()
			if err := w.a.rt.Stop(w.a.killCtx, id, max(grace, minKillGrace)); err != nil {
				w.logger.Warn("stopping container", "container", string(id), "err", err)
			}
		}()
	}
}

// allStates lists the states of every container of the pod; w.mu must be
// held.
func (w *podWorker) allStates() []*ctrState {
	all := make([]*ctrState, 0, len(w.initStates)+len(w.ctrStates)+len(w.ephemeralStates))
	return append(append(append(all, w.initStates...), w.ctrStates...), w.ephemeralStates...)
}

func (w *podWorker) stopping() bool {
	select {
	case <-w.stopCh:
		return true
	default:
		return false
	}
}

func (w *podWorker) grace() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopGrace
}

// graceLeft is what is left of the pod's grace period since it began to
// stop: sidecars, stopped after the other containers, get only that.
func (w *podWorker) graceLeft() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.stopGrace-w.a.clock.Since(w.stopAt), 0)
}

// notify schedules a status write for the pod.
func (w *podWorker) notify() { w.a.statusQueue.Add(w.key) }

// sleep waits d unless the pod must stop first; it reports whether the
// full wait passed.
func (w *podWorker) sleep(d time.Duration) bool {
	if d <= 0 {
		return !w.stopping()
	}
	t := w.a.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return !w.stopping()
	case <-w.stopCh:
		return false
	}
}

// run is the pod's life: sandbox and volumes, init containers in order,
// then the containers; finish decides the terminal phase.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	defer w.finish()
	pod := w.latest()
	w.mu.Lock()
	now := metav1.NewTime(w.a.clock.Now()).Rfc3339Copy()
	w.startTime = &now
	if pod.Status.StartTime != nil {
		w.startTime = pod.Status.StartTime.DeepCopy()
	}
	w.mu.Unlock()
	w.notify()
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		left := time.Duration(*d)*time.Second - w.a.clock.Since(w.startTime.Time)
		t := w.a.clock.AfterFunc(max(left, 0), func() { w.terminate(specGrace(w.latest()), stopDeadline) })
		defer t.Stop()
	}
	vols, ok := w.prepare(ctx, pod)
	if ok && len(vols.tokens) > 0 {
		go w.keepTokensFresh(ctx, pod, vols.tokens)
	}
	if !ok {
		return
	}
	if holder, ok := w.startPIDHolder(ctx, pod); ok {
		defer w.stopPIDHolder(holder) // last: after the sidecars
	}
	w.mu.Lock()
	w.ephemeralCtx, w.ephemeralVols = ctx, vols
	w.startEphemeralLocked()
	w.mu.Unlock()
	defer w.stopEphemeral() // the pod's containers are done: so are its ephemeral ones
	defer w.stopSidecars()  // ... and then its sidecars
	if !w.runInitContainers(ctx, pod, vols) {
		return
	}
	w.mu.Lock()
	w.initialized = true
	w.mu.Unlock()
	w.notify()
	var wg sync.WaitGroup
	for i := range pod.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runContainerLoop(ctx, w.ctrStates[i], &pod.Spec.Containers[i], vols, pod.Spec.RestartPolicy)
		}()
	}
	wg.Wait()
}

// runInitContainers runs the init containers one after another; it
// reports whether all succeeded.
func (w *podWorker) runInitContainers(ctx context.Context, pod *corev1.Pod, vols *podVolumes) bool {
	policy := pod.Spec.RestartPolicy
	if policy == corev1.RestartPolicyAlways {
		policy = corev1.RestartPolicyOnFailure // init containers restart on failure only
	}
	for i := range pod.Spec.InitContainers {
		c, st := &pod.Spec.InitContainers[i], w.initStates[i]
		if st.sidecar {
			if !w.startSidecar(ctx, st, c, vols) {
				return false
			}
			continue
		}
		code, ok := w.runContainerLoop(ctx, st, c, vols, policy)
		if !ok || code != 0 {
			return false
		}
	}
	return true
}

// prepare creates the sandbox and populates the volumes, retrying while
// a referenced object is missing, until it works or the pod must stop.
func (w *podWorker) prepare(ctx context.Context, pod *corev1.Pod) (*podVolumes, bool) {
	for {
		vols, err := w.setupVolumes(ctx, pod)
		if err == nil {
			w.mu.Lock()
			w.sandboxReady = true
			w.mu.Unlock()
			w.notify()
			return vols, true
		}
		w.logger.Debug("pod volumes not ready", "err", err)
		w.a.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		if !w.sleep(w.a.retryInterval()) {
			return nil, false
		}
	}
}

// finish decides the terminal phase once no container runs any more.
func (w *podWorker) finish() {
	w.mu.Lock()
	defer func() {
		w.finished = true
		w.mu.Unlock()
		w.notify()
	}()
	if w.stopReason == stopShutdown || w.terminal != nil {
		return
	}
	if w.stopReason != stopNone {
		for _, st := range w.allStates() {
			if st.state.Terminated == nil {
				st.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: reasonUnknownContainer, Message: messageUnknownContainer}}
			}
		}
	}
	if w.stopReason == stopDeadline {
		w.terminal = &terminalStatus{phase: corev1.PodFailed, reason: reasonDeadlineExceeded, message: messageDeadlineExceeded}
		return
	}
	phase := corev1.PodSucceeded
	for _, st := range w.initStates {
		if t := st.state.Terminated; t != nil && t.ExitCode != 0 && !st.sidecar {
			phase = corev1.PodFailed
		}
	}
	for _, st := range w.ctrStates {
		if t := st.state.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	w.terminal = &terminalStatus{phase: phase}
}

// retryInterval is how long a pod waits before retrying a volume or
// container configuration that failed (a missing ConfigMap, ...).
func (a *Agent) retryInterval() time.Duration { return min(a.cfg.BackoffBase, 2*time.Second) }

// backoff is the delay before the n-th restart of a container: the first
// restart is immediate, then BackoffBase doubling up to BackoffMax.
func (a *Agent) backoff(n int32) time.Duration {
	if n <= 1 {
		return 0
	}
	d := a.cfg.BackoffBase
	for i := int32(2); i < n && d < a.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, a.cfg.BackoffMax)
}
