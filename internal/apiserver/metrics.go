package apiserver

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// Metrics records requests in Prometheus form, with the label names
// kube-apiserver uses (verb, group, version, resource, subresource, code).
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
	handler  http.Handler
}

// NewMetrics registers the API metrics and the Go and process collectors on
// a registry of its own (no global state).
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, group, version, resource, subresource and HTTP response code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, group, version, resource and subresource.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb", "group", "version", "resource", "subresource"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Number of requests currently being served, by kind (readOnly, mutating).",
		}, []string{"request_kind"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// Registry lets other components (controllers, storage) add collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// instrument records every request once it is answered. Watches are
// counted with verb WATCH; their latency is the stream's lifetime.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		kind := "readOnly"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			kind = "mutating"
		}
		g := m.inflight.WithLabelValues(kind)
		g.Inc()
		defer g.Dec()
		next.ServeHTTP(rec, r)
		verb, group, version, resource, sub := "", "", "", "", ""
		if info, ok := request.RequestInfoFrom(r.Context()); ok && info.IsResourceRequest {
			verb, group, version, resource, sub = info.Verb, info.APIGroup, info.APIVersion, info.Resource, info.Subresource
		} else if ok {
			verb = info.Verb
		}
		m.requests.WithLabelValues(strings.ToUpper(verb), group, version, resource, sub, strconv.Itoa(rec.code)).Inc()
		m.latency.WithLabelValues(strings.ToUpper(verb), group, version, resource, sub).Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status code; it passes Flush through so
// watches keep streaming.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack passes a connection upgrade through (exec's SPDY or WebSocket
// stream); an upgrade that wrote no status itself counts as 101.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && !s.wroteHeader {
		s.code, s.wroteHeader = http.StatusSwitchingProtocols, true
	}
	return conn, rw, err
}
