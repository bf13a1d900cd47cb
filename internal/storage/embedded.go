package storage

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Embedded is an etcd server running inside the Skiff process, with an
// in-process client (no gRPC over the network on the hot path).
type Embedded struct {
	etcd   *embed.Etcd
	client *clientv3.Client
}

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// Dir is etcd's data directory; created if missing. Required.
	Dir string
	// StartTimeout bounds how long start-up may take. Default 60s.
	StartTimeout time.Duration
	// CompactionRetention is etcd's periodic auto-compaction retention.
	// Default 5m (kube-apiserver compacts every 5 minutes). Negative: off.
	CompactionRetention time.Duration
}

// StartEmbedded starts etcd in cfg.Dir and waits until it serves. Its client
// and peer listeners are unix sockets inside Dir, so nothing is exposed on
// the network and several servers can run on one machine (tests).
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (e *Embedded, err error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("embedded etcd: data directory is required")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.CompactionRetention == 0 {
		cfg.CompactionRetention = 5 * time.Minute
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating etcd directory: %w", err)
	}
	ec := embed.NewConfig()
	ec.Name = "skiff"
	ec.Dir = cfg.Dir
	// Unix socket paths are limited to ~108 bytes; keep them short and
	// relative-free by living in the data dir.
	client := &url.URL{Scheme: "unix", Path: filepath.Join(cfg.Dir, "c.sock")}
	peer := &url.URL{Scheme: "unix", Path: filepath.Join(cfg.Dir, "p.sock")}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	ec.InitialCluster = ec.Name + "=" + peer.String()
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quietZap())
	// A single member has no peers to hear from, yet still waits out a raft
	// election before serving: with etcd's defaults (100 ms ticks, 1 s
	// election) that was 0.3 - 0.9 s of every start. Short ticks make the
	// election take tens of milliseconds; the ratio of the two stays etcd's.
	ec.TickMs, ec.ElectionMs = 10, 100
	if cfg.CompactionRetention > 0 {
		ec.AutoCompactionMode = embed.CompactorModePeriodic
		ec.AutoCompactionRetention = cfg.CompactionRetention.String()
	}
	etcd, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: %w", err)
	}
	defer func() {
		if err != nil {
			etcd.Close()
		}
	}()
	select {
	case <-etcd.Server.ReadyNotify():
	case err := <-etcd.Err():
		return nil, fmt.Errorf("embedded etcd failed while starting: %w", err)
	case <-time.After(cfg.StartTimeout):
		return nil, fmt.Errorf("embedded etcd not ready after %s", cfg.StartTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("embedded etcd start: %w", ctx.Err())
	}
	return &Embedded{etcd: etcd, client: v3client.New(etcd.Server)}, nil
}

// Store returns the Interface over this server for keys under prefix. It
// reads and writes through Client, and watches etcd's MVCC store directly.
func (e *Embedded) Store(prefix string) Interface {
	s := NewEtcd(e.client, prefix).(*etcdStore)
	s.local = newLocalWatches(e.etcd.Server.Watchable())
	return s
}

// Client returns the in-process client. It is valid until Close.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Err reports a fatal etcd error after start.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the client, then the server, waiting for both.
func (e *Embedded) Close() {
	e.client.Close()
	e.etcd.Close()
}

// DialExternal connects to an external etcd cluster.
func DialExternal(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Context:     ctx,
		Logger:      quietZap(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	return c, nil
}

// quietZap is etcd's logger: errors only, since Skiff logs with slog, and
// without the errors etcd reports for its own listeners while it closes.
func quietZap() *zap.Logger {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	l, err := zc.Build(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return shutdownNoiseFilter{c} }))
	if err != nil {
		return zap.NewNop()
	}
	return l
}

// shutdownNoiseFilter drops two harmless errors etcd logs in normal
// operation: "setting up serving ... failed" on every close of its
// listeners, and, on the first start of a new data directory, "failed to
// update storage version" with "missing term information" (etcd 3.7 reads
// the schema version of a new backend before its first term is stored and
// writes it at the next check; see etcd-io/etcd#19961).
type shutdownNoiseFilter struct{ zapcore.Core }

func (f shutdownNoiseFilter) With(fields []zapcore.Field) zapcore.Core {
	return shutdownNoiseFilter{f.Core.With(fields)}
}

func (f shutdownNoiseFilter) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	switch {
	case e.Message == "setting up serving from embedded etcd failed.":
		return ce
	case e.Message == "failed to update storage version" && f.Enabled(e.Level):
		return ce.AddCore(e, f) // decided in Write, which sees the error
	}
	return f.Core.Check(e, ce)
}

func (f shutdownNoiseFilter) Write(e zapcore.Entry, fields []zapcore.Field) error {
	for _, fld := range fields {
		if err, ok := fld.Interface.(error); ok && fld.Type == zapcore.ErrorType && strings.Contains(err.Error(), "missing term information") {
			return nil
		}
	}
	return f.Core.Write(e, fields)
}
