package node

// Container lifecycle hooks, as the kubelet runs them (pkg/kubelet/lifecycle's
// handler runner, called from kuberuntime's startContainer and killContainer):
//
//   - postStart runs once the container has started. Until it returns the
//     container is reported waiting (ContainerCreating: the kubelet writes
//     the status it regenerates after its start step) and the pod's next
//     container is not started. A failure is a FailedPostStartHook event and
//     a kill (preStop included); a restart then waits with reason
//     PostStartHookError and the handler's message.
//   - preStop runs before every kill with a grace period above zero: the
//     pod's deletion or deadline, a failed probe or postStart hook, the
//     agent's shutdown. The kill waits for it at most the grace period; the
//     whole seconds it took are taken from the grace period left for
//     SIGTERM, which never drops below 2s (for any kill). A failure is a
//     FailedPreStopHook event and the kill goes on.
//
// Events never carry a handler's output, which may hold secrets.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Event reasons and the container waiting reason of lifecycle hooks, as the
// kubelet's.
const (
	eventFailedPostStartHook   = "FailedPostStartHook"
	eventFailedPreStopHook     = "FailedPreStopHook"
	eventLifecycleHTTPFallback = "LifecycleHTTPFallback"
	reasonPostStartHookError   = "PostStartHookError"
)

// lifecycleUserAgent is the User-Agent of httpGet hooks, as the kubelet's
// (probes send kube-probe/...).
const lifecycleUserAgent = "kube-lifecycle/1.37"

// minKillGrace is the kubelet's minimumGracePeriodInSeconds: the least a
// container gets between SIGTERM and SIGKILL, whatever the grace period.
const minKillGrace = 2 * time.Second

// runHook runs handler h against container t once, as the kubelet's handler
// runner. On failure the string says what failed in the kubelet's words;
// it goes to the log and a restarting container's waiting message.
func (w *podWorker) runHook(ctx context.Context, t probeTarget, h *corev1.LifecycleHandler) (string, error) {
	pod := w.latest()
	switch {
	case h.Exec != nil:
		out, err := w.execHook(ctx, t, h.Exec.Command)
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
				h.Exec.Command, t.c.Name, formatPod(pod), err, out), err
		}
	case h.HTTPGet != nil:
		if err := w.httpHook(ctx, t, h.HTTPGet); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v",
				h.HTTPGet.Path, t.c.Name, formatPod(pod), err), err
		}
	case h.Sleep != nil:
		if err := w.sleepHook(ctx, h.Sleep.Seconds); err != nil {
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v",
				h.Sleep.Seconds, t.c.Name, formatPod(pod), err), err
		}
	default:
		// tcpSocket: validation lets it through for compatibility, and the
		// kubelet fails it when it runs.
		err := fmt.Errorf("invalid handler: %v", h)
		return fmt.Sprintf("Cannot run handler: %v", err), err
	}
	return "", nil
}

// execHook runs cmd in the container, without a timeout of its own (ctx
// bounds it), and returns its stdout and stderr. A non-zero exit is the
// error a CRI runtime's ExecSync gives.
func (w *podWorker) execHook(ctx context.Context, t probeTarget, cmd []string) (string, error) {
	stdout, stderr := &cappedWriter{max: crt.MaxExecOutput}, &cappedWriter{max: crt.MaxExecOutput}
	code, err := w.a.rt.Exec(ctx, t.id, cmd, crt.ExecIO{Stdout: stdout, Stderr: stderr})
	out := stdout.buf.String() + stderr.buf.String()
	if err == nil && code != 0 {
		err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), code, stderr.buf.String())
	}
	return out, err
}

// httpHook sends the hook's GET. Any response is success, whatever its
// code; only a request that gets none fails. An HTTPS request answered in
// plain HTTP is sent again over HTTP, with a LifecycleHTTPFallback event.
func (w *podWorker) httpHook(ctx context.Context, t probeTarget, action *corev1.HTTPGetAction) error {
	if !w.a.rt.Capabilities().Network { // the fake runtime answers it as its network probes
		res, err := w.a.rt.ExecSync(ctx, t.id, nil, 0)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("the fake runtime answered with exit code %d", res.ExitCode)
		}
		return err
	}
	req, err := newProbeRequest(ctx, action, t, lifecycleUserAgent)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: w.a.prober.transport, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	drain(res)
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		req = req.Clone(ctx)
		req.URL.Scheme = "http"
		req.Header.Del("Authorization")
		res, httpErr := client.Do(req)
		drain(res)
		if httpErr == nil {
			w.a.recorder.Event(w.latest(), corev1.EventTypeWarning, eventLifecycleHTTPFallback,
				fmt.Sprintf("request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", req.URL.Host))
			err = nil
		}
	}
	return err
}

// drain reads up to 10 KiB of a hook's response and closes it.
func drain(res *http.Response) {
	if res == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxProbeBody))
	_ = res.Body.Close()
}

// sleepHook waits seconds, unless ctx ends first (the container exited).
func (w *podWorker) sleepHook(ctx context.Context, seconds int64) error {
	if seconds <= 0 {
		return nil
	}
	timer := w.a.clock.NewTimer(time.Duration(seconds) * time.Second)
	defer timer.Stop()
	select {
	case <-timer.C():
		return nil
	case <-ctx.Done():
		return errors.New("container terminated before sleep hook finished")
	}
}

// postStart runs c's postStart hook against attempt id. It returns the
// failure's message, "" when the hook passed or was cut short because the
// pod must stop. On failure the container has been killed.
func (w *podWorker) postStart(ctx context.Context, c *corev1.Container, id crt.ContainerID) string {
	// The kubelet waits for the hook even while the pod is being deleted;
	// Skiff stops waiting then, so that a hook that hangs cannot hold the
	// deletion back.
	hookCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.stopCh:
			cancel()
		case <-hookCtx.Done():
		}
	}()
	msg, err := w.runHook(hookCtx, probeTarget{id: id, c: c, podIP: w.a.cfg.NodeIP}, c.Lifecycle.PostStart)
	if err == nil || w.stopping() {
		return ""
	}
	w.logger.Info("postStart hook failed", "container", c.Name, "message", msg)
	w.a.recorder.Event(containerRef(w.latest(), c.Name), corev1.EventTypeWarning, eventFailedPostStartHook, "PostStartHook failed")
	w.killContainer(ctx, ctx, c, id, eventFailedPostStartHook, specGrace(w.latest()))
	return msg
}

// killContainer stops attempt id of c as the kubelet's killContainer does:
// a Killing event (message, or "Stopping container NAME"), the preStop hook
// if c has one and grace is above zero, then SIGTERM and, after what is
// left of grace but at least 2s (even for a pod deleted with grace 0),
// SIGKILL. hookCtx ends the hook early (the container exited); ctx bounds
// the stop.
func (w *podWorker) killContainer(ctx, hookCtx context.Context, c *corev1.Container, id crt.ContainerID, message string, grace time.Duration) {
	if message == "" {
		message = "Stopping container " + c.Name
	}
	w.a.recorder.Event(containerRef(w.latest(), c.Name), corev1.EventTypeNormal, eventKilling, message)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		grace -= w.preStop(hookCtx, c, id, grace)
	}
	grace = max(grace, minKillGrace)
	if err := w.a.rt.Stop(ctx, id, grace); err != nil && ctx.Err() == nil {
		w.logger.Warn("stopping container", "container", string(id), "err", err)
	}
}

// preStop runs c's preStop hook, waiting for it at most grace, and returns
// the time it took in whole seconds (the kubelet counts the grace period in
// seconds). A hook still running then goes on until the container stops.
func (w *podWorker) preStop(ctx context.Context, c *corev1.Container, id crt.ContainerID, grace time.Duration) time.Duration {
	start := w.a.clock.Now()
	done := make(chan struct{})
	w.a.podWG.Add(1) // the agent's shutdown waits for it; ctx ends it with the container
	go func() {
		defer w.a.podWG.Done()
		defer close(done)
		msg, err := w.runHook(ctx, probeTarget{id: id, c: c, podIP: w.a.cfg.NodeIP}, c.Lifecycle.PreStop)
		if err != nil {
			w.logger.Info("preStop hook failed", "container", c.Name, "message", msg)
			w.a.recorder.Event(containerRef(w.latest(), c.Name), corev1.EventTypeWarning, eventFailedPreStopHook, "PreStopHook failed")
		}
	}()
	timer := w.a.clock.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C():
		w.logger.Info("preStop hook not completed in grace period", "container", c.Name, "grace", grace)
	}
	return w.a.clock.Since(start).Truncate(time.Second)
}

// formatPod names a pod in the kubelet's messages: NAME_NAMESPACE(UID).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// cappedWriter keeps the first max bytes written to it.
type cappedWriter struct {
	buf bytes.Buffer
	max int
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
