package auth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	Verb      string    `json:"verb"`
	Resource  string    `json:"resource,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	Path      string    `json:"path"`
	Code      int       `json:"code"`
	// LatencySeconds is the time from receipt to the handler's return.
	LatencySeconds float64 `json:"latency"`
}

// AuditLog writes one JSON line per request to a writer (a file opened by
// the caller, who also closes it). Safe for concurrent use.
type AuditLog struct {
	// mu serialises writes so lines never interleave.
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewAuditLog writes to w.
func NewAuditLog(w io.Writer) *AuditLog { return &AuditLog{w: w, now: time.Now} }

func (l *AuditLog) write(ev *AuditEvent) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	data = append(data, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(data)
}

// auditRecord collects what inner filters learn (the user) for the audit
// line. The timeout filter runs the inner chain on another goroutine, hence
// the lock.
type auditRecord struct {
	mu   sync.Mutex
	user string
}

type auditKey struct{}

func recordUser(ctx context.Context, u user.Info) {
	rec, ok := ctx.Value(auditKey{}).(*auditRecord)
	if !ok || u == nil {
		return
	}
	rec.mu.Lock()
	rec.user = u.GetName()
	rec.mu.Unlock()
}

func (l *AuditLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := l.now()
		rec := &auditRecord{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), auditKey{}, rec)))
		ev := &AuditEvent{Time: start.UTC(), Path: r.URL.Path, Code: sw.code(), LatencySeconds: l.now().Sub(start).Seconds(), Verb: r.Method}
		if info, ok := request.RequestInfoFrom(r.Context()); ok {
			ev.Verb, ev.Namespace, ev.Name = info.Verb, info.Namespace, info.Name
			if info.IsResourceRequest {
				ev.Resource = qualifiedResource(info)
			}
		}
		rec.mu.Lock()
		ev.User = rec.user
		rec.mu.Unlock()
		l.write(ev)
	})
}

// qualifiedResource renders "jobs.batch/status" style names.
func qualifiedResource(info *request.RequestInfo) string {
	res := info.Resource
	if info.APIGroup != "" {
		res += "." + info.APIGroup
	}
	if info.Subresource != "" {
		res = fmt.Sprintf("%s/%s", res, info.Subresource)
	}
	return res
}

// statusWriter remembers the status code. It passes Flush and Unwrap through
// so watches keep streaming.
type statusWriter struct {
	http.ResponseWriter
	mu     sync.Mutex
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = code
	}
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack passes a connection upgrade through (exec's SPDY or WebSocket
// stream); an upgrade that wrote no status itself is recorded as 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.mu.Lock()
		if w.status == 0 {
			w.status = http.StatusSwitchingProtocols
		}
		w.mu.Unlock()
	}
	return conn, rw, err
}

func (w *statusWriter) code() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
