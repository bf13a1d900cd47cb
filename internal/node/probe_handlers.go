package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// probeOutcome is what one run of a probe handler found (upstream's
// probe.Result without Unknown: a probe that could not run is an error).
type probeOutcome int

const (
	outcomeSuccess probeOutcome = iota
	// outcomeWarning counts as success and is reported with an event (an
	// httpGet redirect to another host, not followed).
	outcomeWarning
	outcomeFailure
)

// Probe constants as the kubelet's.
const (
	probeUserAgent    = "kube-probe/1.37"
	maxProbeBody      = 10 * 1024
	maxProbeRedirects = 10
)

// prober runs probe handlers against containers. One serves the agent; it
// is safe for concurrent use.
type prober struct {
	rt crt.Runtime
	// transport serves every httpGet probe: no keep-alives (each probe opens
	// its own connection, as the kubelet's), no certificate verification,
	// no proxy.
	transport *http.Transport
}

func newProber(rt crt.Runtime) *prober {
	return &prober{rt: rt, transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // probes never verify, as the kubelet's
		DisableKeepAlives: true,
	}}
}

// probeTarget is the container a probe runs against.
type probeTarget struct {
	id    crt.ContainerID
	c     *corev1.Container
	podIP string
}

// run runs spec's handler once. The string is the handler's output for
// events; an error means the probe could not run at all (the kubelet's
// "probe errored": a named port that does not exist, an exec the runtime
// could not start).
func (p *prober) run(ctx context.Context, spec *corev1.Probe, t probeTarget) (probeOutcome, string, error) {
	timeout := time.Duration(max(spec.TimeoutSeconds, 1)) * time.Second
	network := spec.HTTPGet != nil || spec.TCPSocket != nil || spec.GRPC != nil
	switch {
	case spec.Exec != nil:
		return p.exec(ctx, t, expandProbeCommand(spec.Exec.Command, t.c), timeout)
	case network && !p.rt.Capabilities().Network:
		return p.exec(ctx, t, nil, timeout) // the fake runtime answers network probes too
	case spec.HTTPGet != nil:
		return p.httpGet(ctx, spec.HTTPGet, t, timeout)
	case spec.TCPSocket != nil:
		return tcpProbe(ctx, spec.TCPSocket, t, timeout)
	case spec.GRPC != nil:
		return grpcProbe(ctx, spec.GRPC, t, timeout)
	}
	return outcomeFailure, "", fmt.Errorf("missing probe handler for container %s", t.c.Name)
}

// exec runs cmd in the container: exit 0 is success, a timeout a failure.
func (p *prober) exec(ctx context.Context, t probeTarget, cmd []string, timeout time.Duration) (probeOutcome, string, error) {
	res, err := p.rt.ExecSync(ctx, t.id, cmd, timeout)
	switch {
	case errors.Is(err, crt.ErrExecTimeout):
		return outcomeFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	case err != nil:
		return outcomeFailure, "", err
	case res.ExitCode != 0:
		return outcomeFailure, string(res.Output), nil
	}
	return outcomeSuccess, string(res.Output), nil
}

// expandProbeCommand expands $(VAR) with the container's literal env
// values only, as the kubelet (no valueFrom, no downward API).
func expandProbeCommand(cmd []string, c *corev1.Container) []string {
	vars := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			vars[e.Name] = e.Value
		}
	}
	return expandAll(cmd, vars)
}

// httpGet probes with a GET: 200 <= code < 400 is success; redirects are
// followed on the same host only.
func (p *prober) httpGet(ctx context.Context, action *corev1.HTTPGetAction, t probeTarget, timeout time.Duration) (probeOutcome, string, error) {
	req, err := newProbeRequest(ctx, action, t, probeUserAgent)
	if err != nil {
		return outcomeFailure, "", err
	}
	client := &http.Client{Timeout: timeout, Transport: p.transport, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		return outcomeFailure, err.Error(), nil // timeouts and refused connections fail the probe
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxProbeBody))
	if err != nil {
		return outcomeFailure, "", fmt.Errorf("reading probe response: %w", err)
	}
	body := string(b)
	switch {
	case res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusMultipleChoices:
		return outcomeSuccess, body, nil
	case res.StatusCode >= http.StatusMultipleChoices && res.StatusCode < http.StatusBadRequest:
		return outcomeWarning, "Probe terminated redirects, Response body: " + body, nil
	}
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// newProbeRequest builds the kubelet's request for probes and lifecycle
// hooks: host default the pod IP, userAgent (kube-probe/<major>.<minor> or
// kube-lifecycle/...) and Accept */* unless set, the Host header as the
// request's host.
func newProbeRequest(ctx context.Context, action *corev1.HTTPGetAction, t probeTarget, userAgent string) (*http.Request, error) {
	port, err := resolvePort(action.Port, t.c)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(action.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := action.Host
	if host == "" {
		host = t.podIP
	}
	u, err := url.Parse(action.Path)
	if err != nil { // too late to reject it: pass it on as it is, as the kubelet
		u = &url.URL{Path: action.Path}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building probe request: %w", err)
	}
	headers := http.Header{}
	for _, h := range action.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header, req.Host = headers, headers.Get("Host")
	return req, nil
}

// sameHostRedirects follows redirects on the probed host only (up to 10);
// the response of one to another host is the result.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxProbeRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// tcpProbe succeeds when a connection opens.
func tcpProbe(ctx context.Context, action *corev1.TCPSocketAction, t probeTarget, timeout time.Duration) (probeOutcome, string, error) {
	port, err := resolvePort(action.Port, t.c)
	if err != nil {
		return outcomeFailure, "", err
	}
	host := action.Host
	if host == "" {
		host = t.podIP
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}

// grpcProbe calls grpc.health.v1.Health/Check on the pod IP; SERVING is
// success, everything else a failure with the kubelet's messages. As the
// kubelet's blocking dial, it first waits (within the probe's timeout) for
// a connection, so a port nobody listens on fails when the timeout ends,
// with the kubelet's "timeout: failed to connect service".
func grpcProbe(ctx context.Context, action *corev1.GRPCAction, t probeTarget, timeout time.Duration) (probeOutcome, string, error) {
	addr := net.JoinHostPort(t.podIP, strconv.Itoa(int(action.Port)))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(probeUserAgent))
	if err != nil {
		return outcomeFailure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := waitConnected(ctx, conn); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return outcomeFailure, fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, err), nil
		}
		return outcomeFailure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
	}
	service := ""
	if action.Service != nil {
		service = *action.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return outcomeFailure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " + status.Convert(err).Message(), nil
		case codes.DeadlineExceeded:
			return outcomeFailure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
		}
		return outcomeFailure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return outcomeFailure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return outcomeSuccess, "service healthy", nil
}

// waitConnected connects conn and waits until it is ready or ctx ends
// (what grpc.WithBlock did for the kubelet's dial): gRPC keeps retrying a
// refused connection in between.
func waitConnected(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, state) {
			return ctx.Err()
		}
	}
}

// resolvePort is the kubelet's: a number, a named container port, or a
// number written as a string.
func resolvePort(param intstr.IntOrString, c *corev1.Container) (int, error) {
	var port int
	switch param.Type {
	case intstr.Int:
		port = param.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == param.StrVal {
				port, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(param.StrVal)
			if err != nil {
				return 0, err // unwrapped: the kubelet's event shows strconv's message alone
			}
			port = n
		}
	default:
		return 0, fmt.Errorf("intOrString had no kind: %+v", param)
	}
	if port <= 0 || port >= 65536 {
		return 0, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}
