package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiff-sh/skiff/internal/apiserver"
)

// PortForwardHandlerConfig configures NewPortForwardHandler.
type PortForwardHandlerConfig struct {
	// Pods reads the pod named in the request. Required.
	Pods PodGetter
	// Running reports whether the agent runs a container of the pod now.
	// Required.
	Running func(pod *corev1.Pod) bool
	// Dial connects to a port of the pod; default: TCP to localhost, as the
	// pods share the node's network.
	Dial func(ctx context.Context, port int32) (net.Conn, error)
	// Logger; nil discards.
	Logger *slog.Logger
}

// PortForwardHandler serves pods/portforward: kube-apiserver's checks
// (upstream's PortForwardLocation), the kubelet's (a running pod), then the
// kubelet's streaming library (k8s.io/cri-streaming) forwards each stream to
// the port. kubectl since 1.31 tunnels that SPDY protocol through a
// WebSocket, which kube-apiserver unwraps with its tunneling handler; Skiff
// does the same.
type PortForwardHandler struct {
	cfg PortForwardHandlerConfig
}

var _ apiserver.SubresourceHandler = (*PortForwardHandler)(nil)

// NewPortForwardHandler validates cfg and returns the handler.
func NewPortForwardHandler(cfg PortForwardHandlerConfig) (*PortForwardHandler, error) {
	if cfg.Pods == nil || cfg.Running == nil {
		return nil, errors.New("port-forward handler: Pods and Running are required")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, port int32) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", strconv.Itoa(int(port))))
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &PortForwardHandler{cfg: cfg}, nil
}

// ServeSubresource implements apiserver.SubresourceHandler.
func (h *PortForwardHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	pod, err := h.cfg.Pods.GetPod(r.Context(), req.Namespace, req.Name)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", req.Name))
	}
	// From here on the kubelet answers, in plain text.
	if !h.cfg.Running(pod) {
		http.Error(w, fmt.Sprintf("pod not found (%q)", pod.Name+"_"+pod.Namespace), http.StatusInternalServerError)
		return nil
	}
	r = withStreamLogger(r, h.cfg.Logger)
	var opts *portforward.V4Options
	if wsstream.IsWebSocketRequest(r) && !wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		// The WebSocket protocol names its ports up front.
		if opts, err = portforward.NewV4Options(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil
		}
	}
	var serve http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		portforward.ServePortForward(w, r, forwarder(h.cfg.Dial), pod.Name, string(pod.UID), opts,
			streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
	})
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		spdy := serve
		serve = proxy.NewTunnelingHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			spdy.ServeHTTP(&inBandUpgrade{ResponseWriter: w}, r)
		}))
	}
	serve.ServeHTTP(w, r)
	return nil
}

// inBandUpgrade makes a local SPDY server look like the kubelet behind
// kube-apiserver's proxy to the tunneling handler: the handler reads the
// upgrade response from the hijacked connection, as the proxy copies it
// from the kubelet, and refuses a 101 through WriteHeader. So the 101 is
// held back and written into the connection on Hijack.
type inBandUpgrade struct {
	http.ResponseWriter
	upgrade bool
}

func (w *inBandUpgrade) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		w.upgrade = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Hijack returns the tunnel with the held 101 written into it, and a
// buffered reader and writer on it (the tunnel gives none; the SPDY
// upgrader needs them).
func (w *inBandUpgrade) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.upgrade {
		resp := &http.Response{StatusCode: http.StatusSwitchingProtocols, ProtoMajor: 1, ProtoMinor: 1, Header: w.Header()}
		if err := resp.Write(conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("writing the upgrade response into the tunnel: %w", err)
		}
	}
	return conn, bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn)), nil
}

// forwarder copies each forwarded stream to and from a new connection to
// its port.
type forwarder func(ctx context.Context, port int32) (net.Conn, error)

var _ portforward.PortForwarder = forwarder(nil)

// PortForward implements portforward.PortForwarder.
func (dial forwarder) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	conn, err := dial(ctx, port)
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d: %w", port, err)
	}
	defer conn.Close()
	// The connection ends when the pod's side closes it: the client's end of
	// input only half-closes it, so that the reply still comes back.
	replied := make(chan struct{})
	go func() {
		_, _ = io.Copy(stream, conn)
		close(replied)
	}()
	go func() {
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	select {
	case <-replied:
	case <-ctx.Done():
	}
	return nil
}
