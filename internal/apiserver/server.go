// Package apiserver serves the Kubernetes REST API over Skiff's registry:
// request parsing, per-verb handlers, content negotiation (JSON, YAML,
// protobuf, Table, PartialObjectMetadata), watch streaming, discovery and
// errors as metav1.Status. It knows HTTP; the registry below it does not.
//
//	h, _ := apiserver.New(apiserver.Config{Resources: resources, Logger: log})
//	http.ListenAndServeTLS(addr, cert, key, h)
package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/version"
	endpointsfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-sh/skiff/internal/openapi"
	"github.com/skiff-sh/skiff/internal/scheme"
)

// DefaultMaxRequestBodyBytes is upstream's limit on request bodies (3 MiB).
const DefaultMaxRequestBodyBytes = 3 * 1024 * 1024

// Config configures New.
type Config struct {
	// Resources served. Required.
	Resources []*Resource
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Version is what /version answers.
	Version version.Info
	// Ready reports whether storage answers; /readyz is 200 only when it
	// returns nil. Required.
	Ready func(ctx context.Context) error
	// OpenAPI serves /openapi/v2 and /openapi/v3; optional.
	OpenAPI OpenAPIServer
	// Metrics, optional, is served at /metrics and records every request.
	Metrics *Metrics
	// MaxRequestBodyBytes; default DefaultMaxRequestBodyBytes.
	MaxRequestBodyBytes int64
	// Wrap, optional, wraps the resource handler with more filters
	// (authentication, authorization, limits), innermost first.
	Wrap func(http.Handler) http.Handler
	// NonResource, optional, serves more non-resource paths, by exact path
	// (the service account issuer's discovery documents).
	NonResource map[string]http.Handler
	// TypeConverter gives the schema of the served kinds to server-side
	// apply and managedFields tracking. Default: built in the background
	// from the generated OpenAPI definitions of the scheme's kinds.
	TypeConverter TypeConverterSource
}

// OpenAPIServer serves the OpenAPI documents.
type OpenAPIServer interface {
	ServeV2(w http.ResponseWriter, r *http.Request)
	ServeV3(w http.ResponseWriter, r *http.Request)
}

// Server is the API's http.Handler.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	reg      *registry
	infos    *request.RequestInfoFactory
	handler  http.Handler
	discover *discovery
	fields   *fieldManagers
	// requests counts the requests received, for Requests.
	requests atomic.Uint64
}

// New builds the handler.
func New(cfg Config) (*Server, error) {
	if len(cfg.Resources) == 0 || cfg.Ready == nil {
		return nil, fmt.Errorf("apiserver: Resources and Ready are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBodyBytes == 0 {
		cfg.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if cfg.TypeConverter == nil {
		cfg.TypeConverter = openapi.NewDeferredTypeConverter(scheme.Scheme)
	}
	s := &Server{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "apiserver"),
		reg:    newRegistry(cfg.Resources),
		fields: &fieldManagers{source: cfg.TypeConverter},
		infos: &request.RequestInfoFactory{
			APIPrefixes:          sets.NewString("api", "apis"),
			GrouplessAPIPrefixes: sets.NewString("api"),
		},
	}
	s.discover = newDiscovery(s.reg)
	var h http.Handler = http.HandlerFunc(s.serveAPI)
	if cfg.Wrap != nil {
		h = cfg.Wrap(h)
	}
	// Warning headers (a Job delete that orphans, unknown fields under
	// fieldValidation=Warn) are collected per request and written with it.
	h = endpointsfilters.WithWarningRecorder(h)
	if cfg.Metrics != nil {
		h = cfg.Metrics.instrument(h)
	}
	h = s.withRequestInfo(h)
	h = withPanicRecovery(h, s.logger)
	s.handler = h
	return s, nil
}

// RequestInfoFactory returns the parser the server uses, for filters that
// need it (authorization).
func (s *Server) RequestInfoFactory() *request.RequestInfoFactory { return s.infos }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.handler.ServeHTTP(w, r)
}

// Requests returns how many requests the server has received: a cheap
// activity measure (Prometheus metrics give the details).
func (s *Server) Requests() uint64 { return s.requests.Load() }

// withRequestInfo parses the request once and puts it in the context, where
// upstream filters (and ours) expect it.
func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := s.infos.NewRequestInfo(r)
		if err != nil {
			writeError(w, r, internalError(fmt.Errorf("parsing request: %w", err)))
			return
		}
		next.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

// serveAPI routes a request that passed the filters.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info, _ := request.RequestInfoFrom(r.Context())
	if info == nil || !info.IsResourceRequest {
		s.serveNonResource(w, r)
		return
	}
	req, err := s.route(info)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.serveResource(w, r, req); err != nil {
		writeError(w, r, err)
	}
}

func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if h, ok := s.cfg.NonResource[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	switch {
	case p == "/healthz" || p == "/livez" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/"):
		s.serveHealth(w, r, nil)
	case p == "/readyz" || strings.HasPrefix(p, "/readyz/"):
		s.serveHealth(w, r, s.cfg.Ready)
	case p == "/version":
		writeJSON(w, http.StatusOK, s.cfg.Version)
	case strings.HasPrefix(r.URL.Path, "/debug/pprof"):
		// kube-apiserver serves the Go profiler by default (--profiling).
		servePprof(w, r)
	case p == "/metrics" && s.cfg.Metrics != nil:
		s.cfg.Metrics.ServeHTTP(w, r)
	case p == "/openapi/v2" && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeV2(w, r)
	case (p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/")) && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeV3(w, r)
	case p == "/api" || p == "/apis" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
		if err := s.discover.serve(w, r, p); err != nil {
			writeError(w, r, err)
		}
	default:
		writeError(w, r, notFoundRoute())
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, check func(context.Context) error) {
	if check != nil {
		if err := check(r.Context()); err != nil {
			s.logger.Warn("readiness check failed", "err", err)
			http.Error(w, "[-]etcd failed: reason withheld\nreadyz check failed", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}
