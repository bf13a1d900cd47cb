package node

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// probeKind is the kubelet's probeType.
type probeKind int

const (
	probeLiveness probeKind = iota
	probeReadiness
	probeStartup
)

// String is the kind as events spell it ("Liveness probe failed: ...").
func (k probeKind) String() string {
	switch k {
	case probeLiveness:
		return "Liveness"
	case probeReadiness:
		return "Readiness"
	case probeStartup:
		return "Startup"
	}
	return "Unknown"
}

// Probe defaults, as the API's, for specs that bypassed defaulting.
const (
	defaultProbePeriod           = 10
	defaultProbeTimeout          = 1
	defaultProbeSuccessThreshold = 1
	defaultProbeFailureThreshold = 3
)

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// probeSet runs the probes of one container attempt, one goroutine per
// probe the container has, from the container's start until stop.
type probeSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// readinessTrigger asks the readiness worker to probe at once (after the
	// startup probe passed); buffered 1 so that a send never blocks.
	readinessTrigger chan struct{}
}

// startProbes starts the probe workers of container c, running as attempt
// id since startedAt; nil when c has no probes.
func (w *podWorker) startProbes(ctx context.Context, st *ctrState, c *corev1.Container, id crt.ContainerID, startedAt time.Time) *probeSet {
	specs := []struct {
		kind probeKind
		spec *corev1.Probe
	}{{probeStartup, c.StartupProbe}, {probeReadiness, c.ReadinessProbe}, {probeLiveness, c.LivenessProbe}}
	if c.StartupProbe == nil && c.ReadinessProbe == nil && c.LivenessProbe == nil {
		return nil // most containers: nothing to run, nothing to allocate
	}
	ctx, cancel := context.WithCancel(ctx)
	set := &probeSet{cancel: cancel, readinessTrigger: make(chan struct{}, 1)}
	for _, s := range specs {
		if s.spec == nil {
			continue
		}
		pw := &probeWorker{w: w, st: st, set: set, kind: s.kind, spec: s.spec, startedAt: startedAt,
			target: probeTarget{id: id, c: c, podIP: w.a.cfg.NodeIP}}
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			pw.run(ctx)
		}()
	}
	return set
}

// stop ends the workers and waits for them. A nil set does nothing.
func (s *probeSet) stop() {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

// probeWorker probes one container attempt periodically, as the kubelet's
// prober worker: it waits initialDelaySeconds, probes every periodSeconds,
// and changes the result only after successThreshold / failureThreshold
// equal results in a row.
type probeWorker struct {
	w         *podWorker
	st        *ctrState
	set       *probeSet
	kind      probeKind
	spec      *corev1.Probe
	target    probeTarget
	startedAt time.Time

	// lastSuccess and streak count the consecutive equal results; only the
	// worker's goroutine touches them.
	lastSuccess bool
	streak      int
}

// run probes until probeOnce says to stop or ctx ends.
func (pw *probeWorker) run(ctx context.Context) {
	period := time.Duration(orDefault(pw.spec.PeriodSeconds, defaultProbePeriod)) * time.Second
	ticker := pw.w.a.clock.NewTicker(period)
	defer ticker.Stop()
	var trigger <-chan struct{}
	if pw.kind == probeReadiness {
		trigger = pw.set.readinessTrigger
	}
	for pw.probeOnce(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-trigger:
		}
	}
}

// probeOnce probes unless the probe is gated, records the result and
// reports whether the worker goes on.
func (pw *probeWorker) probeOnce(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if pw.kind != probeReadiness && pw.w.stopping() {
		return false // the pod is terminating: liveness and startup probes end
	}
	delay := time.Duration(pw.spec.InitialDelaySeconds) * time.Second
	if pw.w.a.clock.Since(pw.startedAt) < delay {
		return true
	}
	started := pw.w.containerStarted(pw.st)
	switch {
	case pw.kind == probeStartup && started:
		return false // done for this attempt
	case pw.kind != probeStartup && !started:
		return true // gated by the startup probe
	}
	outcome, output, err := pw.runWithRetries(ctx)
	if ctx.Err() != nil || errors.Is(err, crt.ErrNotRunning) || errors.Is(err, crt.ErrNotFound) {
		return false // the container ended while it was probed
	}
	ref := containerRef(pw.w.latest(), pw.target.c.Name)
	if err != nil {
		pw.w.logger.Debug("probe errored", "probe", pw.kind.String(), "container", pw.target.c.Name, "err", err)
		pw.w.a.recorder.Eventf(ref, corev1.EventTypeWarning, eventUnhealthy, "%s probe errored and resulted in unknown state: %v", pw.kind, err)
		return true // an error is not a result: thrown away, as the kubelet
	}
	switch outcome {
	case outcomeFailure:
		pw.w.logger.Debug("probe failed", "probe", pw.kind.String(), "container", pw.target.c.Name, "output", output)
		pw.w.a.recorder.Eventf(ref, corev1.EventTypeWarning, eventUnhealthy, "%s probe failed: %s", pw.kind, output)
	case outcomeWarning:
		pw.w.a.recorder.Eventf(ref, corev1.EventTypeWarning, eventProbeWarning, "%s probe warning: %s", pw.kind, output)
	}
	success := outcome != outcomeFailure
	if pw.streak > 0 && pw.lastSuccess == success {
		pw.streak++
	} else {
		pw.lastSuccess, pw.streak = success, 1
	}
	threshold := orDefault(pw.spec.FailureThreshold, defaultProbeFailureThreshold)
	if success {
		threshold = orDefault(pw.spec.SuccessThreshold, defaultProbeSuccessThreshold)
	}
	if pw.streak < int(threshold) {
		return true
	}
	return pw.apply(ctx, success)
}

// runWithRetries runs the handler up to three times while it errors, as
// the kubelet's runProbeWithRetries.
func (pw *probeWorker) runWithRetries(ctx context.Context) (probeOutcome, string, error) {
	var (
		outcome probeOutcome
		output  string
		err     error
	)
	for range maxProbeRetries {
		outcome, output, err = pw.w.a.prober.run(ctx, pw.spec, pw.target)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return outcome, output, err
}

const maxProbeRetries = 3

// apply acts on a result that reached its threshold; it reports whether
// the worker goes on.
func (pw *probeWorker) apply(ctx context.Context, success bool) bool {
	switch {
	case pw.kind == probeReadiness:
		pw.w.setReady(pw.st, pw.target.id, success)
		return true
	case pw.kind == probeStartup && success:
		pw.w.setStarted(pw.st, pw.target.id)
		select {
		case pw.set.readinessTrigger <- struct{}{}:
		default:
		}
		return false
	case pw.kind == probeLiveness && success:
		return true
	}
	// A failed liveness or startup probe: the container is killed and its
	// restart (per restartPolicy) gets new workers.
	pw.w.killForProbe(ctx, pw.st, pw.target, pw.kind, pw.spec)
	return false
}
