package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// probeResult is one run of a handler, for comparisons.
type probeResult struct {
	Outcome probeOutcome
	Output  string
	Err     string
}

func runProbe(t *testing.T, p *prober, spec *corev1.Probe, target probeTarget) probeResult {
	t.Helper()
	outcome, output, err := p.run(context.Background(), spec, target)
	r := probeResult{Outcome: outcome, Output: output}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// networkRuntime is a fake runtime that claims a network, so that the
// prober runs httpGet, tcpSocket and grpc probes for real.
type networkRuntime struct{ *crt.Fake }

func (networkRuntime) Capabilities() crt.Capabilities { return crt.Capabilities{Network: true} }

func TestProber_HTTPGet(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		_, _ = w.Write([]byte("fine"))
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://192.0.2.1/elsewhere")
		w.WriteHeader(http.StatusFound)
		_, _ = w.Write([]byte("moved"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	host, portStr, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portStr)
	c := &corev1.Container{Name: "main", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	target := probeTarget{id: "pod_main_0", c: c, podIP: host}
	httpProbe := func(path string, p intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: 2, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: p, Scheme: corev1.URISchemeHTTP}}}
	}
	tests := map[string]struct {
		probe *corev1.Probe
		want  probeResult
	}{
		"200 succeeds with the body":            {httpProbe("/ok", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeSuccess, Output: "fine"}},
		"named port":                            {httpProbe("/ok", intstr.FromString("web")), probeResult{Outcome: outcomeSuccess, Output: "fine"}},
		"port number as a string":               {httpProbe("/ok", intstr.FromString(portStr)), probeResult{Outcome: outcomeSuccess, Output: "fine"}},
		"204 succeeds":                          {httpProbe("/status/204", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeSuccess}},
		"399 succeeds with a warning":           {httpProbe("/status/399", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeWarning, Output: "Probe terminated redirects, Response body: "}},
		"redirect on the same host is followed": {httpProbe("/local-redirect", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeSuccess, Output: "fine"}},
		"redirect to another host is not":       {httpProbe("/remote-redirect", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeWarning, Output: "Probe terminated redirects, Response body: moved"}},
		"400 fails":                             {httpProbe("/status/400", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeFailure, Output: "HTTP probe failed with statuscode: 400"}},
		"500 fails":                             {httpProbe("/status/500", intstr.FromInt32(int32(port))), probeResult{Outcome: outcomeFailure, Output: "HTTP probe failed with statuscode: 500"}},
		"unknown named port errors": {httpProbe("/ok", intstr.FromString("nope")),
			probeResult{Outcome: outcomeFailure, Err: `strconv.Atoi: parsing "nope": invalid syntax`}},
		"port out of range errors": {httpProbe("/ok", intstr.FromInt32(70000)),
			probeResult{Outcome: outcomeFailure, Err: "invalid port number: 70000"}},
	}
	p := newProber(networkRuntime{crt.NewFake()})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, runProbe(t, p, tc.probe, target)); diff != "" {
				t.Errorf("probe (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		pr := httpProbe("/ok", intstr.FromInt32(int32(port)))
		pr.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "X-Probe", Value: "a"}, {Name: "X-Probe", Value: "b"}}
		if got := runProbe(t, p, pr, target); got.Outcome != outcomeSuccess {
			t.Fatalf("probe = %+v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		found := false
		for _, h := range seen {
			if len(h.Values("X-Probe")) == 2 {
				found = true
				if h.Get("User-Agent") != "kube-probe/1.37" || h.Get("Accept") != "*/*" {
					t.Errorf("User-Agent %q, Accept %q; want kube-probe/1.37, */*", h.Get("User-Agent"), h.Get("Accept"))
				}
			}
		}
		if !found {
			t.Errorf("no request carried both X-Probe headers: %v", seen)
		}
	})
}

func TestProber_HTTPGet_HTTPSWithoutVerification(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secure")) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	host, portStr, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portStr)
	p := newProber(networkRuntime{crt.NewFake()})
	spec := &corev1.Probe{TimeoutSeconds: 2, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/", Port: intstr.FromInt32(int32(port)), Scheme: corev1.URISchemeHTTPS}}}
	got := runProbe(t, p, spec, probeTarget{id: "pod_main_0", c: &corev1.Container{Name: "main"}, podIP: host})
	if diff := cmp.Diff(probeResult{Outcome: outcomeSuccess, Output: "secure"}, got); diff != "" {
		t.Errorf("HTTPS probe of a self-signed server (-want +got):\n%s", diff)
	}
}

func TestProber_HTTPGet_ConnectionRefusedFails(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	p := newProber(networkRuntime{crt.NewFake()})
	got := runProbe(t, p, &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(port))}}},
		probeTarget{id: "pod_main_0", c: &corev1.Container{Name: "main"}, podIP: "127.0.0.1"})
	if got.Outcome != outcomeFailure || got.Err != "" || !strings.Contains(got.Output, "connection refused") {
		t.Errorf("probe = %+v, want a failure saying connection refused", got)
	}
}

// closedPort returns a local port that refuses connections for the whole
// test: a socket bound to it that never listens keeps others off it.
func closedPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}

func TestProber_TCPSocket(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	c := &corev1.Container{Name: "main", Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: int32(open)}}}
	target := probeTarget{id: "pod_main_0", c: c, podIP: "127.0.0.1"}
	p := newProber(networkRuntime{crt.NewFake()})
	tcp := func(port intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}}}
	}
	if got := runProbe(t, p, tcp(intstr.FromString("db")), target); got != (probeResult{Outcome: outcomeSuccess}) {
		t.Errorf("listening port: %+v, want success", got)
	}
	if got := runProbe(t, p, tcp(intstr.FromInt32(int32(closed))), target); got.Outcome != outcomeFailure || !strings.Contains(got.Output, "connection refused") {
		t.Errorf("closed port: %+v, want a failure saying connection refused", got)
	}
}

func TestProber_GRPC(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noHealth := grpc.NewServer()
	go func() { _ = noHealth.Serve(bare) }()
	t.Cleanup(noHealth.Stop)
	port := int32(l.Addr().(*net.TCPAddr).Port)
	target := probeTarget{id: "pod_main_0", c: &corev1.Container{Name: "main"}, podIP: "127.0.0.1"}
	grpcProbe := func(port int32, service *string) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: 2, ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: port, Service: service}}}
	}
	type grpcCase struct {
		probe      *corev1.Probe
		want       probeOutcome
		wantOutput string
	}
	// Nobody listening: the kubelet's blocking dial retries until the
	// probe's timeout (1 s here) and reports it.
	refused := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(closedPort(t))}}}
	refusedAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(refused.GRPC.Port)))
	tests := map[string]grpcCase{
		"serving":           {grpcProbe(port, nil), outcomeSuccess, "service healthy"},
		"not serving":       {grpcProbe(port, ptr.To("db")), outcomeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		"unknown service":   {grpcProbe(port, ptr.To("nope")), outcomeFailure, "error: health rpc probe failed: "},
		"no health service": {grpcProbe(int32(bare.Addr().(*net.TCPAddr).Port), nil), outcomeFailure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "},
		"nothing listening: a connect timeout": {refused, outcomeFailure,
			fmt.Sprintf("timeout: failed to connect service %q within 1s: context deadline exceeded", refusedAddr)},
	}
	p := newProber(networkRuntime{crt.NewFake()})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runProbe(t, p, tc.probe, target)
			if got.Outcome != tc.want || got.Err != "" || !strings.HasPrefix(got.Output, tc.wantOutput) {
				t.Errorf("probe = %+v, want outcome %d with output starting %q", got, tc.want, tc.wantOutput)
			}
		})
	}
}

func TestProber_Exec_ProcessRuntime(t *testing.T) {
	t.Parallel()
	rt, err := crt.NewProcess(crt.ProcessConfig{Dir: t.TempDir(), KillTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	ctx := context.Background()
	id, err := rt.StartContainer(ctx, crt.ContainerSpec{PodUID: "exec-probe", Name: "main", Image: "example.com/app",
		Command: []string{"sleep", "600"}, Env: []crt.EnvVar{{Name: "GREETING", Value: "hello"}}})
	if err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
	c := &corev1.Container{Name: "main", Env: []corev1.EnvVar{{Name: "WHO", Value: "world"},
		{Name: "FROM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
	target := probeTarget{id: id, c: c, podIP: "127.0.0.1"}
	exec := func(timeout int32, cmd ...string) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: timeout, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}}
	}
	tests := map[string]struct {
		probe *corev1.Probe
		want  probeResult
	}{
		"exit 0 succeeds with the output":          {exec(5, "sh", "-c", "echo $GREETING $(WHO) '$(FROM)'"), probeResult{Outcome: outcomeSuccess, Output: "hello world $(FROM)\n"}},
		"exit 1 fails with the output":             {exec(5, "sh", "-c", "echo not ready; exit 1"), probeResult{Outcome: outcomeFailure, Output: "not ready\n"}},
		"a command outliving the timeout fails":    {exec(1, "sleep", "30"), probeResult{Outcome: outcomeFailure, Output: `command "sleep 30" timed out`}},
		"a missing executable fails with exit 127": {exec(5, "/does/not/exist"), probeResult{Outcome: outcomeFailure}},
	}
	p := newProber(rt)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runProbe(t, p, tc.probe, target)
			if tc.want.Output == "" {
				got.Output = "" // the runtime's own wording
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("probe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProber_FakeRuntime_AnswersEveryHandler(t *testing.T) {
	t.Parallel()
	f := crt.NewFake()
	ctx := context.Background()
	handlers := map[string]corev1.ProbeHandler{
		"exec":    {Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
		"httpGet": {HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(1)}},
		"tcp":     {TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}},
		"grpc":    {GRPC: &corev1.GRPCAction{Port: 1}},
	}
	p := newProber(f)
	for _, code := range []int32{0, 1} {
		id, err := f.StartContainer(ctx, crt.ContainerSpec{PodUID: "fake-probe", Name: "c" + strconv.Itoa(int(code)),
			Fake: crt.FakeBehavior{Duration: -1, ExecExitCode: code}})
		if err != nil {
			t.Fatal(err)
		}
		want := outcomeSuccess
		if code != 0 {
			want = outcomeFailure
		}
		for name, h := range handlers {
			got := runProbe(t, p, &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: h}, probeTarget{id: id, c: &corev1.Container{Name: "c"}, podIP: "127.0.0.1"})
			if got != (probeResult{Outcome: want}) {
				t.Errorf("exec exit code %d, %s probe = %+v, want outcome %d", code, name, got, want)
			}
		}
	}
}
