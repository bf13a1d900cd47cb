package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/internal/controller/podgc"
	"github.com/skiff-sh/skiff/internal/gctune"
	"github.com/skiff-sh/skiff/internal/maxprocs"
	"github.com/skiff-sh/skiff/internal/memtrim"
	"github.com/skiff-sh/skiff/internal/server"
)

// serveFlags are the `skiff serve` flags. Their names are a contract: tests
// outside this repository start Skiff with them.
type serveFlags struct {
	dataDir     string
	bindAddress string
	securePort  int
	etcdServers []string
	logLevel    string
	runtime     string
	nodeName    string
	maxPods     int
	// protection and tenancy (see internal/auth)
	tokenAuthFile       string
	maxInflight         int
	maxMutatingInflight int
	requestTimeout      time.Duration
	auditLogPath        string
	// controllers
	terminatedPodGCThreshold int
}

func newServeCommand() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server, controllers and node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.dataDir, "data-dir", ".skiff", "directory for etcd data, certificates and the admin kubeconfig")
	fs.StringVar(&f.bindAddress, "bind-address", "127.0.0.1", "IP address to serve HTTPS on")
	fs.IntVar(&f.securePort, "secure-port", 6443, "HTTPS port (0 picks a free one)")
	fs.StringSliceVar(&f.etcdServers, "etcd-servers", nil, "external etcd client URLs (comma separated); default: embedded etcd in DATA-DIR/etcd")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.runtime, "runtime", server.RuntimeProcess, "container runtime of the local node: process (containers are local processes) or fake (containers finish at once; for benchmarks)")
	fs.StringVar(&f.nodeName, "node-name", "", "name of the local node (default: the host name)")
	fs.IntVar(&f.maxPods, "max-pods", 0, "pod capacity of the local node (default 110, or 10000 with --runtime fake)")
	fs.StringVar(&f.tokenAuthFile, "token-auth-file", "", "static bearer tokens, one per line: token,user,uid,\"group1,group2\"")
	fs.IntVar(&f.maxInflight, "max-requests-inflight", 400, "most read-only requests served at once (more get 429; negative: no limit)")
	fs.IntVar(&f.maxMutatingInflight, "max-mutating-requests-inflight", 200, "most mutating requests served at once (more get 429; negative: no limit)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 60*time.Second, "default deadline of a request (504 past it)")
	fs.StringVar(&f.auditLogPath, "audit-log-path", "", "write one JSON line per request to this file")
	fs.IntVar(&f.terminatedPodGCThreshold, "terminated-pod-gc-threshold", podgc.DefaultTerminatedPodThreshold, "terminated pods that may exist before the pod garbage collector deletes the oldest (0 or less: never)")
	return cmd
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	gc := gctune.Apply()
	logger.Debug("garbage collector", "gcPercent", gc.Percent, "memoryLimit", gc.MemoryLimit, "zeroIsFromEnvironment", true)
	logger.Debug("threads", "gomaxprocs", maxprocs.Apply(), "zeroIsUnchanged", true)
	ctx := cmd.Context()
	srv, err := server.Start(ctx, server.Config{
		DataDir:     f.dataDir,
		BindAddress: f.bindAddress,
		SecurePort:  f.securePort,
		EtcdServers: f.etcdServers,
		Logger:      logger,
		Runtime:     f.runtime,
		NodeName:    f.nodeName,
		MaxPods:     f.maxPods,

		TokenAuthFile:               f.tokenAuthFile,
		MaxRequestsInFlight:         f.maxInflight,
		MaxMutatingRequestsInFlight: f.maxMutatingInflight,
		RequestTimeout:              f.requestTimeout,
		AuditLogPath:                f.auditLogPath,
		TerminatedPodGCThreshold:    gcThreshold(f.terminatedPodGCThreshold),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Skiff is serving at %s\nKubeconfig: %s\nTry: skiff kubectl --kubeconfig %s get namespaces\n",
		srv.URL(), srv.KubeconfigPath(), shellQuote(srv.KubeconfigPath()))
	go func() {
		srv.WaitOpenAPI()
		memtrim.WhenQuiet(ctx, logger, srv.Requests)
	}()
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-srv.Err():
		logger.Error("fatal error", "err", err)
		_ = srv.Close()
		return err
	}
	return srv.Close()
}

// gcThreshold maps the flag, where upstream's 0 or less disables the
// collection, onto server.Config, where 0 means the default.
func gcThreshold(flag int) int {
	if flag <= 0 {
		return -1
	}
	return flag
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"$") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
