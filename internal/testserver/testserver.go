// Package testserver starts a real Skiff in-process for tests: embedded etcd
// in a temp dir, a random port, and client-go clients for the admin.
//
//	func TestX(t *testing.T) {
//		ts := testserver.Start(t, testserver.Options{})
//		_, err := ts.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
//	}
package testserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/controller/rootcacert"
	sacontroller "github.com/skiff-sh/skiff/internal/controller/serviceaccount"
	"github.com/skiff-sh/skiff/internal/server"
)

// Options tune the server under test.
type Options struct {
	// DataDir reuses a directory (restart tests); default t.TempDir().
	DataDir string
	// EtcdServers points at an external etcd instead of the embedded one.
	EtcdServers []string
	// JSON makes Client speak JSON instead of client-go's protobuf default.
	JSON bool
	// Verbose logs the server at debug level to the test log.
	Verbose bool
	// APIOnly runs the API server without controllers (and without a node
	// agent): tests of pure API-server semantics, such as a Job that stays
	// with its orphan finalizer because no garbage collector removes it.
	APIOnly bool
	// WithoutServiceAccounts, with APIOnly, leaves namespaces without their
	// "default" service account. Otherwise an API-only server gets the
	// service account controller, as a cluster's controller manager runs
	// it: the ServiceAccount admission refuses pods until their namespace
	// has its account.
	WithoutServiceAccounts bool
	// PublishRootCA, with APIOnly, also runs the root CA publisher
	// (kube-root-ca.crt in every namespace), without which a node agent
	// cannot fill a pod's token volume.
	PublishRootCA bool
	// Runtime is the node agent's runtime: "process" (the default when
	// empty) or "fake" (containers finish at once).
	Runtime string
	// TerminatedPodGCThreshold and PodGCPeriod set the pod garbage
	// collector's (server.Config); zero keeps upstream's defaults.
	TerminatedPodGCThreshold int
	PodGCPeriod              time.Duration
}

// Server is a running test server.
type Server struct {
	*server.Server
	DataDir string
	// Config is the admin rest.Config (protobuf unless Options.JSON).
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// HTTP is an HTTP client that trusts the server and sends the admin
	// token, for raw requests.
	HTTP *http.Client
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Verbose || os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{DataDir: dir, SecurePort: 0, EtcdServers: opts.EtcdServers, Logger: logger, ShutdownTimeout: 2 * time.Second, DisableControllers: opts.APIOnly, Runtime: opts.Runtime,
		TerminatedPodGCThreshold: opts.TerminatedPodGCThreshold, PodGCPeriod: opts.PodGCPeriod})
	if err != nil {
		t.Fatalf("starting skiff: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing skiff: %v", err)
		}
	})
	cfg := srv.AdminConfig()
	if opts.JSON {
		cfg.ContentType = "application/json"
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	if opts.APIOnly {
		startAPIControllers(t, client, opts, cfg.TLSClientConfig.CAData)
	}
	return &Server{Server: srv, DataDir: dir, Config: cfg, Client: client, Dynamic: dyn, HTTP: &http.Client{Transport: transport, Timeout: 60 * time.Second}}
}

// controller is what the built-in controllers have in common.
type controller interface {
	Run(ctx context.Context, workers int) error
}

// startAPIControllers runs the service account controller and, if asked,
// the root CA publisher until the test ends.
func startAPIControllers(t testing.TB, client kubernetes.Interface, opts Options, rootCA []byte) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	var cs []controller
	if !opts.WithoutServiceAccounts {
		sa, err := sacontroller.NewController(sacontroller.Config{Client: client, Informers: factory})
		if err != nil {
			t.Fatalf("service account controller: %v", err)
		}
		cs = append(cs, sa)
	}
	if opts.PublishRootCA {
		ca, err := rootcacert.NewController(rootcacert.Config{Client: client, Informers: factory, RootCA: rootCA})
		if err != nil {
			t.Fatalf("root CA publisher: %v", err)
		}
		cs = append(cs, ca)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { _ = c.Run(ctx, 1) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
}

// FreePort returns a local TCP port that was free a moment ago, for a pod
// that serves on the node's network.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FuzzDataDir returns a data directory for a fuzz target's server. Go's
// fuzzing coordinator kills its worker processes when it is done, so their
// t.TempDir cleanups never run, and each worker would leave a data directory
// (an etcd WAL, over 100 MB) behind on every run. Workers make theirs under a
// directory named after the coordinator, which removes it at its end.
func FuzzDataDir(f *testing.F) string {
	f.Helper()
	coordinator := os.Getpid()
	if fl := flag.Lookup("test.fuzzworker"); fl != nil && fl.Value.String() == "true" {
		coordinator = os.Getppid()
	}
	root := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-fuzz-%d", coordinator))
	if coordinator == os.Getpid() {
		f.Cleanup(func() { _ = os.RemoveAll(root) })
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		f.Fatalf("fuzz data directory: %v", err)
	}
	dir, err := os.MkdirTemp(root, "server-")
	if err != nil {
		f.Fatalf("fuzz data directory: %v", err)
	}
	return dir
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// PollUntil calls fn until it returns true, failing the test after timeout.
// fn returning an error fails the test at once.
func PollUntil(t testing.TB, timeout time.Duration, fn func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := fn()
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
