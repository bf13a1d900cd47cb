// Package server is Skiff's composition root: it wires storage (embedded or
// external etcd), the watch cache, the registry, the HTTPS API, the
// controllers and the node agent, and shuts them down in order.
//
//	srv, err := server.Start(ctx, server.Config{DataDir: dir, SecurePort: 0})
//	if err != nil { ... }
//	defer srv.Close()
//	cfg := srv.AdminConfig() // a *rest.Config for client-go
package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/certs"
	"github.com/skiff-sh/skiff/internal/controller/podgc"
	"github.com/skiff-sh/skiff/internal/openapi"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/satoken"
	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// Config is what `skiff serve` passes in. Zero values mean the defaults.
type Config struct {
	// DataDir holds etcd's data (DataDir/etcd), certificates and the admin
	// kubeconfig (DataDir/kubeconfig). Default ".skiff".
	DataDir string
	// BindAddress is the IP the API listens on. Default 127.0.0.1.
	BindAddress string
	// SecurePort is the HTTPS port; 0 picks a free one (tests). Default is
	// set by the CLI (6443), not here.
	SecurePort int
	// EtcdServers, if set, are external etcd client URLs used instead of
	// the embedded etcd.
	EtcdServers []string
	// EtcdPrefix is the key prefix in etcd. Default "/registry".
	EtcdPrefix string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// DisableControllers runs the API alone, without controllers and without
	// the node agent (tests of the API server).
	DisableControllers bool
	// Runtime runs the local node's containers: "process" (default) or
	// "fake" (containers finish at once; benchmarks).
	Runtime string
	// NodeName of the local node; default the host name.
	NodeName string
	// MaxPods is the local node's pod capacity; 0 means 110 for the process
	// runtime and 10000 for the fake one.
	MaxPods int
	// TokenAuthFile is a static token file (upstream CSV format).
	TokenAuthFile string
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight bound concurrent
	// read-only and mutating requests (0: 400 and 200; negative: no limit).
	MaxRequestsInFlight, MaxMutatingRequestsInFlight int
	// RequestTimeout is the default deadline of a request (0: 60s).
	RequestTimeout time.Duration
	// AuditLogPath, if set, receives one JSON line per request.
	AuditLogPath string
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// on Close before connections are cut. Default 10s.
	ShutdownTimeout time.Duration
	// TerminatedPodGCThreshold is how many terminated pods may exist before
	// the pod garbage collector deletes the oldest (kube-controller-manager's
	// --terminated-pod-gc-threshold). 0: upstream's 12,500; negative: never.
	TerminatedPodGCThreshold int
	// PodGCPeriod is the time between the pod garbage collector's passes.
	// 0: upstream's 20 s (tests shorten it).
	PodGCPeriod time.Duration
}

// Version is what /version reports and `skiff version` prints.
var Version = version.Info{
	Major: "1", Minor: "37", GitVersion: "v1.37.2-skiff", GitCommit: "unknown", GitTreeState: "clean",
	BuildDate: "1970-01-01T00:00:00Z", GoVersion: runtime.Version(), Compiler: runtime.Compiler,
	Platform: runtime.GOOS + "/" + runtime.GOARCH,
}

// Server is a running Skiff.
type Server struct {
	cfg    Config
	logger *slog.Logger

	embedded *storage.Embedded // nil with external etcd
	client   *clientv3.Client
	store    storage.Interface
	hub      *cacher.Hub
	api      *apiserver.Server
	security *security
	openAPI  *openapi.Deferred
	// started is set when Start has finished bootstrapping; /readyz
	// waits for it.
	started atomic.Bool

	listener net.Listener
	http     *http.Server
	bundle   *certs.Bundle
	// saPublicKey verifies the service account tokens the server signs
	// with tokenIssuer.
	saPublicKey *ecdsa.PublicKey
	tokenIssuer *satoken.Issuer
	token       string
	addr        string

	// cancel stops the background goroutines (watch cache, controllers);
	// wg waits for them.
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopNode stops the node agent (its pods first) and closes its
	// runtime; it runs before the controllers and storage stop.
	stopNode func()
	// errc carries the first fatal error of a background part.
	errc      chan error
	closeOnce sync.Once
	closeErr  error
}

// Start starts everything and returns once the API serves (its watch cache
// is loaded and the system namespaces exist). On error, whatever was started
// is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg = withDefaults(cfg)
	s := &Server{cfg: cfg, logger: cfg.Logger, errc: make(chan error, 4)}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	// The type converter of server-side apply builds while etcd starts.
	typeConverter := openapi.NewDeferredTypeConverter(scheme.Scheme)
	if err := s.startStorage(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.hub = cacher.NewHub(cacher.HubConfig{Storage: s.store, Logger: s.logger})
	saKey, err := satoken.LoadOrCreateKey(filepath.Join(cfg.DataDir, "sa.key"))
	if err != nil {
		return nil, err
	}
	s.saPublicKey = &saKey.PublicKey
	issuer, err := satoken.NewIssuer(saKey, satoken.DefaultIssuer)
	if err != nil {
		return nil, err
	}
	s.tokenIssuer = issuer
	res, err := buildResources(s.store, s.hub, s.logger, issuer)
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.hub.Run(bg) }()
	select {
	case <-s.hub.Ready():
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the watch cache: %w", ctx.Err())
	}
	if err := ensureSystemNamespaces(ctx, res.namespaces); err != nil {
		return nil, err
	}
	if err := rbac.EnsureBootstrapPolicy(ctx, res.clusterRoles, res.clusterRoleBindings); err != nil {
		return nil, fmt.Errorf("bootstrap RBAC policy: %w", err)
	}
	// The authorizer reads RBAC from the watch cache: wait until the cache
	// holds the bootstrap policy just written, or the first requests (even
	// anonymous /readyz, allowed by system:public-info-viewer) get 403.
	if err := s.waitForCache(ctx); err != nil {
		return nil, err
	}
	if s.token, err = loadOrCreateToken(filepath.Join(cfg.DataDir, "admin-token")); err != nil {
		return nil, err
	}
	if s.security, err = s.newSecurity(res); err != nil {
		return nil, err
	}
	s.openAPI = newOpenAPI(res.list)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.openAPI.Wait(); err != nil {
			s.logger.Error("building the OpenAPI documents failed; /openapi answers 500", "err", err)
		}
	}()
	discovery, err := satoken.DiscoveryHandlers(satoken.DefaultIssuer, func() string { return s.addr }, s.saPublicKey)
	if err != nil {
		return nil, err
	}
	s.api, err = apiserver.New(apiserver.Config{
		Resources: res.list, Logger: s.logger, Version: Version, NonResource: discovery,
		Ready:   s.ready,
		Metrics: apiserver.NewMetrics(),
		OpenAPI: s.openAPI,
		// Every write records managedFields with it.
		TypeConverter: typeConverter,
		Wrap:          s.security.wrap,
	})
	if err != nil {
		return nil, err
	}
	if err := s.serve(); err != nil {
		return nil, err
	}
	if err := res.ensureKubernetesService(ctx, s.listener.Addr().(*net.TCPAddr).Port); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); res.serviceAlloc.Run(bg, serviceRepairInterval) }()
	if !cfg.DisableControllers {
		if err := s.startComponents(bg, res); err != nil {
			return nil, err
		}
	}
	s.started.Store(true)
	s.logger.Info("skiff serving", "address", s.addr, "dataDir", cfg.DataDir, "etcd", s.etcdDescription(), "kubeconfig", s.KubeconfigPath())
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.DataDir == "" {
		cfg.DataDir = ".skiff"
	}
	if cfg.BindAddress == "" {
		cfg.BindAddress = "127.0.0.1"
	}
	if cfg.EtcdPrefix == "" {
		cfg.EtcdPrefix = "/registry"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	return cfg
}

func (s *Server) startStorage(ctx context.Context) error {
	if len(s.cfg.EtcdServers) > 0 {
		c, err := storage.DialExternal(ctx, s.cfg.EtcdServers)
		if err != nil {
			return err
		}
		s.client, s.store = c, storage.NewEtcd(c, s.cfg.EtcdPrefix)
	} else {
		e, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: filepath.Join(s.cfg.DataDir, "etcd")})
		if err != nil {
			return err
		}
		s.embedded, s.client, s.store = e, e.Client(), e.Store(s.cfg.EtcdPrefix)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.store.Ready(rctx); err != nil {
		return fmt.Errorf("etcd not reachable: %w", err)
	}
	return nil
}

// waitForCache blocks until the watch cache reflects every write made so far.
func (s *Server) waitForCache(ctx context.Context) error {
	rev, err := s.store.CurrentRevision(ctx)
	if err != nil {
		return fmt.Errorf("reading the etcd revision: %w", err)
	}
	if err := s.hub.WaitForRevision(ctx, rev); err != nil {
		return fmt.Errorf("waiting for the watch cache: %w", err)
	}
	return nil
}

// catchUpCache is waitForCache bounded to a moment, for the authorizer's
// second look at a refusal.
func (s *Server) catchUpCache(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.waitForCache(ctx)
}

// WaitOpenAPI blocks until the OpenAPI documents, built in the background
// after Start, are ready (or failed): the last of the start-up work.
func (s *Server) WaitOpenAPI() { _ = s.openAPI.Wait() }

// Requests returns how many API requests the server has received.
func (s *Server) Requests() uint64 { return s.api.Requests() }

func (s *Server) etcdDescription() string {
	if s.embedded != nil {
		return "embedded"
	}
	return fmt.Sprint(s.cfg.EtcdServers)
}

// serve opens the listener, writes the kubeconfig and starts HTTPS.
func (s *Server) serve() error {
	host := s.cfg.BindAddress
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	if host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	bundle, err := certs.LoadOrCreate(filepath.Join(s.cfg.DataDir, "pki"), hosts)
	if err != nil {
		return err
	}
	s.bundle = bundle
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.cfg.SecurePort)))
	if err != nil {
		return fmt.Errorf("listening on %s:%d: %w", host, s.cfg.SecurePort, err)
	}
	s.listener = ln
	port := ln.Addr().(*net.TCPAddr).Port
	clientHost := host
	if host == "0.0.0.0" || host == "::" {
		clientHost = "127.0.0.1"
	}
	s.addr = "https://" + net.JoinHostPort(clientHost, strconv.Itoa(port))
	if err := writeKubeconfig(s.KubeconfigPath(), s.addr, bundle.CAPEM, s.token); err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{bundle.Serving}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serving HTTPS: %w", err))
		}
	}()
	return nil
}

// ready answers /readyz: storage reachable, and Start finished (as
// upstream's readyz waits for its post-start hooks), so a client that sees
// 200 finds the bootstrap objects (the kubernetes Service) and running
// controllers.
func (s *Server) ready(ctx context.Context) error {
	if !s.started.Load() {
		return errors.New("poststarthook/skiff-bootstrap: not finished")
	}
	return s.store.Ready(ctx)
}

func (s *Server) fail(err error) {
	select {
	case s.errc <- err:
	default:
	}
}

// Err carries a fatal error of a background part (HTTPS, etcd).
func (s *Server) Err() <-chan error { return s.errc }

// URL is the API's address, e.g. https://127.0.0.1:6443.
func (s *Server) URL() string { return s.addr }

// KubeconfigPath is where the admin kubeconfig is written.
func (s *Server) KubeconfigPath() string { return filepath.Join(s.cfg.DataDir, "kubeconfig") }

// AdminConfig returns a client-go config with the admin identity.
func (s *Server) AdminConfig() *rest.Config {
	return &rest.Config{
		Host:            s.addr,
		BearerToken:     s.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.bundle.CAPEM},
		QPS:             -1,
	}
}

// Close shuts down in order: stop accepting and drain HTTP (watches end)
// within ShutdownTimeout, then cut what is left; stop the node agent (its
// pods get their grace period, bounded) and its runtime; stop the
// controllers and the watch cache; close etcd. It is safe to call more than
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			if err := s.http.Shutdown(ctx); err != nil {
				_ = s.http.Close()
			}
			cancel()
		} else if s.listener != nil {
			_ = s.listener.Close()
		}
		if s.stopNode != nil {
			s.stopNode()
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		if s.security != nil && s.security.audit != nil {
			_ = s.security.audit.Close()
		}
		if s.embedded != nil {
			s.embedded.Close()
		} else if s.client != nil {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// LoopbackConfig returns an in-process client config with the admin
// identity (no network; see loopbackConfig).
func (s *Server) LoopbackConfig() *rest.Config {
	return loopbackConfig(s.api, s.token)
}

// startComponents runs the controllers, the scheduler and the node agent on
// the loopback client, and installs the agent's pods/log and pods/eviction
// handlers.
func (s *Server) startComponents(bg context.Context, res *resources) error {
	src, err := informerSource(res.list)
	if err != nil {
		return err
	}
	cm, err := newControllerManager(s.clientConfig, s.logger, res.list, src, s.bundle.CAPEM, s.tokenIssuer,
		podgc.Config{TerminatedPodThreshold: s.cfg.TerminatedPodGCThreshold, Period: s.cfg.PodGCPeriod})
	if err != nil {
		return err
	}
	n, err := s.newNode(src, cm.factory)
	if err != nil {
		return err
	}
	res.podLogs.Set(n.agent.LogHandler())
	res.podExec.Set(n.agent.ExecHandler(false))
	res.podAttach.Set(n.agent.ExecHandler(true))
	res.podPortForward.Set(n.agent.PortForwardHandler())
	res.podEviction.Set(n.agent.EvictionHandler())
	s.wg.Add(2)
	go func() { defer s.wg.Done(); cm.run(bg) }()
	go func() {
		defer s.wg.Done()
		if err := n.sched.Run(bg); err != nil && bg.Err() == nil {
			s.logger.Error("scheduler stopped", "err", err)
		}
	}()
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() {
		defer close(agentDone)
		if err := n.agent.Run(agentCtx); err != nil && agentCtx.Err() == nil {
			s.fail(fmt.Errorf("node agent: %w", err))
		}
	}()
	s.stopNode = func() {
		stopAgent()
		<-agentDone
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := n.closer(ctx); err != nil {
			s.logger.Warn("closing runtime", "err", err)
		}
	}
	return nil
}
