package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"github.com/skiff-sh/skiff/internal/growstack"
)

// Defaults of the protective limits, as kube-apiserver's flags.
const (
	DefaultMaxRequestsInFlight         = 400
	DefaultMaxMutatingRequestsInFlight = 200
	DefaultRequestTimeout              = 60 * time.Second
)

// PublicPaths are served to anonymous requests (and then authorized like
// any other: system:public-info-viewer lets everyone GET them).
var PublicPaths = []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}

// FilterConfig configures Wrap.
type FilterConfig struct {
	// Authenticator identifies the caller; build it with
	// NewRequestAuthenticator. Required.
	Authenticator authenticator.Request
	// Authorizer decides; normally NewRBAC. Required.
	Authorizer authorizer.UnconditionalAuthorizer
	// MaxRequestsInFlight bounds concurrent read-only requests (get, list);
	// MaxMutatingRequestsInFlight the others. Long-running requests (watch,
	// pods/log, exec...) do not count, and system:masters is never refused,
	// as upstream. 0 means the default; negative means no limit.
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	// RequestTimeout is the default and the maximum deadline of a
	// non-long-running request (?timeout= may shorten it). Default 60s.
	RequestTimeout time.Duration
	// AuditLog, optional, receives one JSON line per request.
	AuditLog *AuditLog
	// Tokens, optional, serves the admin token API at TokenAPIPath.
	Tokens *TokenStore
	// Reviews, optional, serves the self-subject review creates right
	// after authorization. A server that routes the reviews as resources
	// of its own (Skiff's does, to list them in discovery) leaves it nil.
	Reviews *Reviews
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// LongRunning is upstream's long-running request check: watches and the
// streaming subresources.
var LongRunning = genericfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"),
	sets.NewString("attach", "exec", "proxy", "log", "portforward"),
)

// Wrap returns the filter chain in upstream's order (outermost first):
// audit log, request deadline (?timeout= parsing, 400 on a bad value),
// timeout (504), authentication (401), max-in-flight (429), authorization
// (403), then Skiff's own endpoints (token API, reviews) before next.
// It expects request.RequestInfo in the context (apiserver puts it there
// before its Wrap runs) and panic recovery around it.
func Wrap(cfg FilterConfig) (func(http.Handler) http.Handler, error) {
	if cfg.Authenticator == nil || cfg.Authorizer == nil {
		return nil, errors.New("auth: FilterConfig.Authenticator and Authorizer are required")
	}
	cfg = filterDefaults(cfg)
	return func(next http.Handler) http.Handler {
		h := withEndpoints(next, cfg)
		h = withAuthorization(h, cfg.Authorizer)
		h = genericfilters.WithMaxInFlightLimit(h, limit(cfg.MaxRequestsInFlight), limit(cfg.MaxMutatingRequestsInFlight), LongRunning)
		h = withAuthentication(h, cfg.Authenticator, cfg.Logger)
		// The timeout filter runs what is inside it in a goroutine of its own.
		h = growstack.Handler(h)
		h = genericfilters.WithTimeoutForNonLongRunningRequests(h, LongRunning)
		h = withRequestDeadline(h, cfg.RequestTimeout)
		if cfg.AuditLog != nil {
			h = cfg.AuditLog.wrap(h)
		}
		return h
	}, nil
}

func filterDefaults(cfg FilterConfig) FilterConfig {
	if cfg.MaxRequestsInFlight == 0 {
		cfg.MaxRequestsInFlight = DefaultMaxRequestsInFlight
	}
	if cfg.MaxMutatingRequestsInFlight == 0 {
		cfg.MaxMutatingRequestsInFlight = DefaultMaxMutatingRequestsInFlight
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("component", "auth")
	return cfg
}

// limit maps the config convention (negative: none) to upstream's (0: none).
func limit(n int) int {
	if n < 0 {
		return 0
	}
	return n
}
