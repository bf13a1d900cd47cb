package node

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/apiserver"
)

// LogHandler returns the pods/log handler served from this agent's runtime:
// pods are read through the agent's client, container states from the
// agent's live view when it runs the pod (fresher than the stored status).
func (a *Agent) LogHandler() *LogHandler {
	h, _ := NewLogHandler(LogHandlerConfig{
		Pods:    a.podGetter(),
		Runtime: a.rt, Status: a.liveStatus, Logger: a.logger, Clock: a.clock,
	})
	return h
}

// ExecHandler returns the pods/exec handler (pods/attach with attach)
// served from this agent's runtime, finding containers as LogHandler does.
func (a *Agent) ExecHandler(attach bool) *ExecHandler {
	h, _ := NewExecHandler(ExecHandlerConfig{
		Pods:    a.podGetter(),
		Runtime: a.rt, Status: a.liveStatus, Logger: a.logger, Attach: attach,
	})
	return h
}

// PortForwardHandler returns the pods/portforward handler for the pods this
// agent runs.
func (a *Agent) PortForwardHandler() *PortForwardHandler {
	h, _ := NewPortForwardHandler(PortForwardHandlerConfig{
		Pods: a.podGetter(),
		Running: func(pod *corev1.Pod) bool {
			status, ok := a.liveStatus(pod.UID)
			if !ok {
				return false
			}
			for _, cs := range slices.Concat(status.ContainerStatuses, status.InitContainerStatuses) {
				if cs.State.Running != nil {
					return true
				}
			}
			return false
		},
		Logger: a.logger,
	})
	return h
}

// podGetter reads pods through the agent's client, for the handlers.
func (a *Agent) podGetter() PodGetter {
	return PodGetterFunc(func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
		return a.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	})
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

// DeferredHandler is a SubresourceHandler whose target is set later: the
// API server's resources are built before it serves, while the agent and
// its client need the serving API. Until Set it answers 503.
type DeferredHandler struct {
	// target holds the handler; atomic because requests may arrive while
	// the composition root sets it.
	target atomic.Pointer[apiserver.SubresourceHandler]
}

var _ apiserver.SubresourceHandler = (*DeferredHandler)(nil)

// Set installs the handler serving from now on.
func (d *DeferredHandler) Set(h apiserver.SubresourceHandler) { d.target.Store(&h) }

// ServeSubresource implements apiserver.SubresourceHandler.
func (d *DeferredHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	h := d.target.Load()
	if h == nil || *h == nil {
		return apierrors.NewServiceUnavailable("the node agent is not running yet")
	}
	return (*h).ServeSubresource(w, r, req)
}
