package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/apiserver"
	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// PodGetter reads one pod; the log handler uses it. NotFound must be an
// API status error (apierrors.NewNotFound), as the store returns.
type PodGetter interface {
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// PodGetterFunc adapts a function to PodGetter.
type PodGetterFunc func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// GetPod implements PodGetter.
func (f PodGetterFunc) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return f(ctx, namespace, name)
}

// LogHandlerConfig configures NewLogHandler.
type LogHandlerConfig struct {
	// Pods reads the pod named in the request. Required.
	Pods PodGetter
	// Runtime holds the containers' logs. Required.
	Runtime crt.Runtime
	// Status, optional, returns the agent's live status of a pod (fresher
	// than the stored one); ok false falls back to the pod's status.
	Status func(uid types.UID) (status corev1.PodStatus, ok bool)
	// Logger; nil discards.
	Logger *slog.Logger
	// Clock for sinceSeconds; default the real clock.
	Clock clock.PassiveClock
}

// LogHandler serves GET pods/{name}/log from the local runtime, with the
// query parameters and error messages of upstream's LogREST and kubelet.
type LogHandler struct {
	cfg LogHandlerConfig
}

var _ apiserver.SubresourceHandler = (*LogHandler)(nil)

// NewLogHandler validates cfg and returns the handler.
func NewLogHandler(cfg LogHandlerConfig) (*LogHandler, error) {
	if cfg.Pods == nil || cfg.Runtime == nil {
		return nil, errors.New("log handler: Pods and Runtime are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &LogHandler{cfg: cfg}, nil
}

// ServeSubresource implements apiserver.SubresourceHandler.
func (h *LogHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, req.Name, errs)
	}
	pod, err := h.cfg.Pods.GetPod(r.Context(), req.Namespace, req.Name)
	if err != nil {
		return err
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK) // upstream: no node, no stream
		return nil
	}
	status := pod.Status
	if h.cfg.Status != nil {
		if s, ok := h.cfg.Status(pod.UID); ok {
			status = s
		}
	}
	id, err := logContainerID(pod.Name, &status, container, opts.Previous)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if _, err := h.cfg.Runtime.Status(r.Context(), id); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("unable to retrieve container logs for %s%s", containerIDPrefix, id))
	}
	ro := crt.LogOptions{TailLines: -1, Timestamps: opts.Timestamps, Follow: opts.Follow}
	if opts.TailLines != nil {
		ro.TailLines = *opts.TailLines
	}
	if opts.LimitBytes != nil {
		ro.LimitBytes = *opts.LimitBytes
	}
	if opts.SinceSeconds != nil {
		ro.Since = h.cfg.Clock.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.SinceTime != nil {
		ro.Since = opts.SinceTime.Time
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w: w}
	fw.flush()
	if err := h.cfg.Runtime.Logs(r.Context(), id, ro, fw); err != nil && r.Context().Err() == nil {
		h.cfg.Logger.Debug("streaming logs ended with an error", "pod", req.Namespace+"/"+req.Name, "container", container, "err", err)
	}
	return nil
}

// flushWriter flushes after every write, so follow streams reach the client.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.flush()
	return n, err
}

func (f flushWriter) flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// parseLogOptions reads PodLogOptions from the query as upstream's
// parameter conversion does (the first value of each; a boolean is false
// only for "false", "f" or "0").
func parseLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{Container: q.Get("container"), Follow: queryBool(q, "follow"), Previous: queryBool(q, "previous"),
		Timestamps: queryBool(q, "timestamps"), InsecureSkipTLSVerifyBackend: queryBool(q, "insecureSkipTLSVerifyBackend")}
	ints := map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes}
	for k, p := range ints {
		if vs, ok := q[k]; ok && len(vs) > 0 {
			n, err := strconv.ParseInt(vs[0], 10, 64)
			if err != nil {
				return nil, err
			}
			*p = &n
		}
	}
	if vs, ok := q["sinceTime"]; ok && len(vs) > 0 && vs[0] != "" {
		t, err := time.Parse(time.RFC3339, vs[0])
		if err != nil {
			return nil, err
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	return opts, nil
}

// queryBool reads a boolean query parameter as upstream's parameter
// conversion: absent is false, and so are "0", "f" and "false" (any case);
// anything else, "" included, is true.
func queryBool(q url.Values, key string) bool {
	vs, ok := q[key]
	if !ok || len(vs) == 0 {
		return false
	}
	v := vs[0]
	return !(v == "0" || strings.EqualFold(v, "f") || strings.EqualFold(v, "false"))
}

// validateLogOptions is upstream's ValidatePodLogOptions.
func validateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// podContainer picks the container as upstream's validateContainer (for
// logs, exec and attach).
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, containerNames(pod.Spec.Containers))
		if len(pod.Spec.InitContainers) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", containerNames(pod.Spec.InitContainers))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return name, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func containerNames(cs []corev1.Container) string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

// logContainerID picks the runtime container as the kubelet's
// validateContainerLogStatus, with its messages.
func logContainerID(podName string, s *corev1.PodStatus, container string, previous bool) (crt.ContainerID, error) {
	var cs *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{s.ContainerStatuses, s.InitContainerStatuses, s.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				cs = &list[i]
			}
		}
	}
	if cs == nil {
		return "", fmt.Errorf("container %q in pod %q is not available", container, podName)
	}
	last := cs.LastTerminationState.Terminated
	var id string
	switch st := cs.State; {
	case previous:
		if last == nil || last.ContainerID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, podName)
		}
		id = last.ContainerID
	case st.Running != nil:
		id = cs.ContainerID
	case st.Terminated != nil:
		id = st.Terminated.ContainerID
		if id == "" && last != nil {
			id = last.ContainerID
		}
		if id == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, podName)
		}
	case last != nil:
		if last.ContainerID == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, podName)
		}
		id = last.ContainerID
	case st.Waiting != nil:
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %s", container, podName, st.Waiting.Reason)
	default:
		return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, podName)
	}
	return crt.ContainerID(strings.TrimPrefix(id, containerIDPrefix)), nil
}
