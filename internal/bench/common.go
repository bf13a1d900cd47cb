package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Content types accepted by Common.ContentType.
const (
	ContentTypeProtobuf = "protobuf"
	ContentTypeJSON     = "json"
)

// Defaults shared by every scenario.
const (
	DefaultImage            = "busybox:1.36"
	DefaultProgressInterval = time.Second
	DefaultCleanupTimeout   = 30 * time.Second
	DefaultTimeout          = 5 * time.Minute
)

// runLabel marks every object a run creates, so watches and lists see only
// the run's own objects (real clusters add objects such as kube-root-ca.crt
// to every namespace).
const runLabel = "skiff-bench/run"

// Common holds the settings every scenario shares. The zero value of each
// field means "use the default" as documented on the field.
type Common struct {
	// RestConfig says how to reach the API server. Required unless Client is
	// set. It is copied, never modified: the copy gets an unlimited client-side
	// rate limiter so the tool measures the server, not client throttling.
	RestConfig *rest.Config
	// Client, when non-nil, is used instead of building one from RestConfig
	// (tests pass a fake clientset). ContentType is then ignored.
	Client kubernetes.Interface
	// ContentType is the wire encoding for requests and responses:
	// "protobuf" (default when empty, like client-go for built-in types) or "json".
	ContentType string
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// Progress receives one line per ProgressInterval while the scenario runs.
	// Nil prints no progress.
	Progress io.Writer
	// ProgressInterval is the time between progress lines. Default 1s.
	ProgressInterval time.Duration
	// ServerPID, when > 0, is the process id of the API server on this
	// machine; its RSS and CPU are sampled from /proc during the run and
	// reported in the result. 0 disables sampling.
	ServerPID int
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// Image is the container image of the Pods the scenario creates.
	// Default "busybox:1.36". Pods run `true` (or `sleep` for cascade).
	Image string
	// Timeout bounds each wait for the server (pods to appear, jobs to
	// complete, watch events to arrive). Default 5m.
	Timeout time.Duration
	// CleanupTimeout bounds the best-effort deletion of the scenario's
	// namespace at the end. Default 30s.
	CleanupTimeout time.Duration
}

func (c Common) withDefaults() (Common, error) {
	if c.RestConfig == nil && c.Client == nil {
		return c, errors.New("a RestConfig or a Client is required")
	}
	switch c.ContentType {
	case "":
		c.ContentType = ContentTypeProtobuf
	case ContentTypeProtobuf, ContentTypeJSON:
	default:
		return c, fmt.Errorf("unsupported content type %q: want %q or %q", c.ContentType, ContentTypeProtobuf, ContentTypeJSON)
	}
	if c.ServerPID < 0 {
		return c, fmt.Errorf("server pid must be positive, got %d", c.ServerPID)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CleanupTimeout <= 0 {
		c.CleanupTimeout = DefaultCleanupTimeout
	}
	return c, nil
}

// NewClient builds a clientset for cfg with the given content type
// ("protobuf", "json" or empty for protobuf) and no client-side rate limit.
func NewClient(cfg *rest.Config, contentType string) (kubernetes.Interface, error) {
	rc := rest.CopyConfig(cfg)
	rc.QPS = -1
	rc.Burst = 0
	rc.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	switch contentType {
	case "", ContentTypeProtobuf:
		rc.ContentType = "application/vnd.kubernetes.protobuf"
		rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	case ContentTypeJSON:
		rc.ContentType = "application/json"
		rc.AcceptContentTypes = "application/json"
	default:
		return nil, fmt.Errorf("unsupported content type %q", contentType)
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "skiff-bench"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	return cs, nil
}

// env is what a running scenario works with.
type env struct {
	Common
	client    kubernetes.Interface
	namespace string
	runID     string
	log       *slog.Logger
}

// setup validates c, builds the client and creates the scenario's fresh
// namespace. The caller must call cleanup.
func setup(ctx context.Context, c Common, scenario string) (*env, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	client := c.Client
	if client == nil {
		client, err = NewClient(c.RestConfig, c.ContentType)
		if err != nil {
			return nil, err
		}
	}
	runID := utilrand.String(6)
	e := &env{
		Common:    c,
		client:    client,
		namespace: "skiff-bench-" + scenario + "-" + runID,
		runID:     runID,
	}
	e.log = c.Logger.With("scenario", scenario, "namespace", e.namespace)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   e.namespace,
		Labels: map[string]string{runLabel: runID},
	}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", e.namespace, err)
	}
	e.log.Info("namespace created")
	return e, nil
}

// cleanup deletes the scenario's namespace, best effort and bounded by
// CleanupTimeout. It does not wait for the namespace to be gone: a real
// cluster finalizes namespaces asynchronously. ctx may already be canceled.
func (e *env) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.CleanupTimeout)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	err := e.client.CoreV1().Namespaces().Delete(ctx, e.namespace, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		e.log.Warn("cleanup: deleting namespace failed", "err", err)
		return
	}
	e.log.Info("cleanup: namespace deleted")
}

// labels returns the labels every object of this run carries.
func (e *env) labels() map[string]string {
	return map[string]string{runLabel: e.runID}
}

// selector is the label selector matching objects of this run.
func (e *env) selector() string {
	return runLabel + "=" + e.runID
}

// VerificationError reports that a scenario ran but what it measured failed
// its checks (a lost event, a wrong count, a failed request). The result
// returned next to it is complete and worth printing.
type VerificationError struct {
	Scenario string
	Failures []string
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("%s: verification failed: %s", e.Scenario, strings.Join(e.Failures, "; "))
}

// verdict turns a list of failures into nil or a *VerificationError.
func verdict(scenario string, failures []string) error {
	if len(failures) == 0 {
		return nil
	}
	return &VerificationError{Scenario: scenario, Failures: failures}
}

// Result is what every scenario returns. Results marshal to JSON.
type Result interface {
	// Summary is the one-line human summary carrying the main figure with
	// its unit, e.g. "crud: 4123 ops/s, create p99 9.1 ms, delete p99 8.7 ms, 0 errors".
	Summary() string
}

// startProgress prints line() to w every interval until the returned stop
// function is called. stop waits for the printing goroutine to exit.
func startProgress(w io.Writer, interval time.Duration, line func() string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})     // closed by stop to end the loop
	finished := make(chan struct{}) // closed by the loop when it has exited
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(w, line())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// serverSampler starts /proc sampling when ServerPID is set. The returned
// stop function yields the stats (nil when sampling is off or failed).
func (e *env) serverSampler(ctx context.Context) (stop func() *ProcStats) {
	if e.ServerPID == 0 {
		return func() *ProcStats { return nil }
	}
	s, err := StartProcSampler(ctx, ProcSamplerConfig{PID: e.ServerPID, ProcRoot: e.ProcRoot})
	if err != nil {
		e.log.Warn("server sampling disabled", "pid", e.ServerPID, "err", err)
		return func() *ProcStats { return nil }
	}
	return func() *ProcStats {
		st := s.Stop()
		return &st
	}
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pacer spaces out operations at a fixed rate per second; rate <= 0 means
// no pacing. It is immutable, so workers share it freely.
type pacer struct {
	start time.Time
	rate  float64
}

// wait blocks until operation i (0-based) is due.
func (p pacer) wait(ctx context.Context, i int) bool {
	if p.rate <= 0 {
		return ctx.Err() == nil
	}
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	return sleepCtx(ctx, time.Until(due))
}
