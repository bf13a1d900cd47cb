package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	constants "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"

	"github.com/skiff-sh/skiff/internal/apiserver"
	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// The kubelet's streaming server defaults (its --streaming-connection-idle-timeout
// and the CRI streaming server's stream creation timeout).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
	// statusWriteDeadline bounds writing the final status of a WebSocket
	// exec, as kube-apiserver's stream translator does.
	statusWriteDeadline = 10 * time.Second
)

// ExecHandlerConfig configures NewExecHandler.
type ExecHandlerConfig struct {
	// Pods reads the pod named in the request. Required.
	Pods PodGetter
	// Runtime runs the commands. Required.
	Runtime crt.Runtime
	// Status, optional, returns the agent's live status of a pod (fresher
	// than the stored one); ok false falls back to the pod's status.
	Status func(uid types.UID) (status corev1.PodStatus, ok bool)
	// Logger; nil discards.
	Logger *slog.Logger
	// Attach serves pods/attach instead: the client is connected to the
	// container's workload instead of a new command.
	Attach bool
}

// ExecHandler serves pods/exec (or pods/attach) from the local runtime. It
// checks what kube-apiserver checks (upstream's ExecLocation and
// AttachLocation), then what the kubelet checks (its stream options, a
// running container), then streams: WebSocket clients that speak
// v5.channel.k8s.io (kubectl since 1.30) as kube-apiserver's stream
// translator serves them, SPDY and the older WebSocket subprotocols as the
// kubelet's streaming server does (k8s.io/cri-streaming).
type ExecHandler struct {
	cfg ExecHandlerConfig
}

var _ apiserver.SubresourceHandler = (*ExecHandler)(nil)

// NewExecHandler validates cfg and returns the handler.
func NewExecHandler(cfg ExecHandlerConfig) (*ExecHandler, error) {
	if cfg.Pods == nil || cfg.Runtime == nil {
		return nil, errors.New("exec handler: Pods and Runtime are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ExecHandler{cfg: cfg}, nil
}

// ServeSubresource implements apiserver.SubresourceHandler.
func (h *ExecHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	opts := parseExecOptions(r)
	pod, err := h.cfg.Pods.GetPod(r.Context(), req.Namespace, req.Name)
	if err != nil {
		return err
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", req.Name))
	}

	// From here on the kubelet answers, in plain text.
	if opts.TTY && opts.Stderr {
		opts.Stderr = false // the kubelet drops stderr with a TTY
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		http.Error(w, "you must specify at least 1 of stdin, stdout, stderr", http.StatusBadRequest)
		return nil
	}
	id, ok := h.runningContainer(pod, container)
	if !ok {
		msg := fmt.Sprintf("container not found (%q)", container)
		if h.cfg.Attach {
			msg = fmt.Sprintf("container %s not found in pod %s", container, pod.Name+"_"+pod.Namespace)
		}
		http.Error(w, msg, http.StatusInternalServerError)
		return nil
	}
	exec := &runtimeExecutor{rt: h.cfg.Runtime, id: id}
	r = withStreamLogger(r, h.cfg.Logger)
	streamOpts := &remotecommand.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY}
	var session sessionFunc = func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		return exec.ExecInContainer(ctx, "", "", "", opts.Command, in, out, errOut, tty, resize, 0)
	}
	if h.cfg.Attach {
		session = func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
			return exec.AttachContainer(ctx, "", "", "", in, out, errOut, tty, resize)
		}
	}
	switch {
	case wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		h.serveWebSocket(w, r, session, opts)
	case h.cfg.Attach:
		remotecommand.ServeAttach(w, r, exec, pod.Name, string(pod.UID), container, streamOpts,
			streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	default:
		remotecommand.ServeExec(w, r, exec, pod.Name, string(pod.UID), container, opts.Command, streamOpts,
			streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}
	return nil
}

// sessionFunc runs one exec or attach session with the client's streams.
type sessionFunc func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error

// runningContainer finds the runtime ID of the named container when it runs,
// as the kubelet finds it among the runtime's running containers.
func (h *ExecHandler) runningContainer(pod *corev1.Pod, name string) (crt.ContainerID, bool) {
	status := pod.Status
	if h.cfg.Status != nil {
		if s, ok := h.cfg.Status(pod.UID); ok {
			status = s
		}
	}
	for _, list := range [][]corev1.ContainerStatus{status.ContainerStatuses, status.InitContainerStatuses, status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name && cs.State.Running != nil && cs.ContainerID != "" {
				return crt.ContainerID(strings.TrimPrefix(cs.ContainerID, containerIDPrefix)), true
			}
		}
	}
	return "", false
}

// serveWebSocket serves a v5.channel.k8s.io client as kube-apiserver's
// stream translator does: channels 0-4 (stdin, stdout, stderr, error,
// resize), the client may close stdin, and the outcome goes to the error
// channel as a JSON Status.
func (h *ExecHandler) serveWebSocket(w http.ResponseWriter, r *http.Request, session sessionFunc, opts *corev1.PodExecOptions) {
	channels := make([]wsstream.ChannelType, 5)
	channels[constants.StreamStdIn] = channelIf(opts.Stdin, wsstream.ReadChannel)
	channels[constants.StreamStdOut] = channelIf(opts.Stdout, wsstream.WriteChannel)
	channels[constants.StreamStdErr] = channelIf(opts.Stderr, wsstream.WriteChannel)
	channels[constants.StreamErr] = wsstream.WriteChannel
	channels[constants.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		constants.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		h.cfg.Logger.Debug("exec: WebSocket upgrade failed", "err", err)
		return
	}
	defer conn.Close()
	// An empty message on the lowest writable channel tells the client the
	// streams are up.
	first := constants.StreamErr
	switch {
	case opts.Stdout:
		first = constants.StreamStdOut
	case opts.Stderr:
		first = constants.StreamStdErr
	}
	if _, err := streams[first].Write(nil); err != nil {
		return
	}

	resize := make(chan remotecommand.TerminalSize)
	go decodeResizes(r.Context(), streams[constants.StreamResize], resize)
	var stdin io.Reader
	if opts.Stdin {
		stdin = streams[constants.StreamStdIn]
	}
	err = session(r.Context(), stdin, streams[constants.StreamStdOut], streams[constants.StreamStdErr], opts.TTY, resize)
	status := metav1.Status{Status: metav1.StatusSuccess}
	var exitErr utilexec.CodeExitError
	switch {
	case errors.As(err, &exitErr):
		status = metav1.Status{
			Status: metav1.StatusFailure, Reason: constants.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: constants.ExitCodeCauseType, Message: fmt.Sprint(exitErr.ExitStatus())},
			}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
		}
	case err != nil:
		status = apierrors.NewInternalError(err).Status()
	}
	body, err := json.Marshal(status)
	if err != nil {
		return
	}
	conn.SetWriteDeadline(statusWriteDeadline)
	_, _ = streams[constants.StreamErr].Write(body)
}

func channelIf(open bool, t wsstream.ChannelType) wsstream.ChannelType {
	if open {
		return t
	}
	return wsstream.IgnoreChannel
}

// decodeResizes reads the client's JSON terminal sizes into sizes until the
// stream or ctx ends.
func decodeResizes(ctx context.Context, stream io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(stream)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// runtimeExecutor runs exec sessions in one container of the runtime.
type runtimeExecutor struct {
	rt crt.Runtime
	id crt.ContainerID
}

var (
	_ remotecommand.Executor = (*runtimeExecutor)(nil)
	_ remotecommand.Attacher = (*runtimeExecutor)(nil)
)

// ExecInContainer implements remotecommand.Executor. A non-zero exit is a
// utilexec.CodeExitError, which the streaming protocols report as the
// NonZeroExitCode status kubectl turns into its own exit code.
func (e *runtimeExecutor) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	code, err := e.rt.Exec(ctx, e.id, cmd, execIO(ctx, in, out, errOut, tty, resize))
	if err != nil {
		return err
	}
	if code != 0 {
		// containerd's message for a non-zero exit.
		return utilexec.CodeExitError{Err: fmt.Errorf("error executing command %v, exit code %d", cmd, code), Code: int(code)}
	}
	return nil
}

// AttachContainer implements remotecommand.Attacher. The terminal, if any,
// is the container's own: tty only says whether the client sends sizes.
func (e *runtimeExecutor) AttachContainer(ctx context.Context, _, _, _ string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return e.rt.Attach(ctx, e.id, execIO(ctx, in, out, errOut, tty, resize))
}

// execIO converts the streaming library's streams for the runtime.
func execIO(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) crt.ExecIO {
	streams := crt.ExecIO{Stdin: in, Stdout: out, Stderr: errOut, TTY: tty}
	if resize != nil {
		sizes := make(chan crt.TerminalSize)
		streams.Resize = sizes
		go func() {
			for size := range resize {
				select {
				case sizes <- crt.TerminalSize{Width: size.Width, Height: size.Height}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return streams
}

// parseExecOptions reads PodExecOptions from the query as upstream's
// parameter conversion does (a boolean is false only for "false", "f" or
// "0"; command repeats).
func parseExecOptions(r *http.Request) *corev1.PodExecOptions {
	q := r.URL.Query()
	return &corev1.PodExecOptions{
		Container: q.Get("container"), Command: q["command"],
		Stdin: queryBool(q, "stdin"), Stdout: queryBool(q, "stdout"), Stderr: queryBool(q, "stderr"), TTY: queryBool(q, "tty"),
	}
}

// withStreamLogger gives the streaming libraries, which log through klog,
// the handler's logger at debug level: a client that goes away while a
// stream is read is an error to them, and at most a debug line to Skiff.
func withStreamLogger(r *http.Request, logger *slog.Logger) *http.Request {
	return r.WithContext(klog.NewContext(r.Context(), logr.FromSlogHandler(debugHandler{logger.Handler()})))
}

// debugHandler logs every record at debug level.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(attrs)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}
