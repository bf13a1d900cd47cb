package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// loopbackHost names the in-process API for clients of the loopback config.
const loopbackHost = "http://skiff.loopback"

// loopbackConfig is a client-go config for components inside the server
// (controllers, node agent): requests go through the full handler chain,
// authentication included, but in memory — no TCP, TLS or HTTP/2 framing,
// which matters on a small machine where controllers make most requests.
// Requests default to protobuf, as kube-controller-manager's and the
// kubelet's --kube-api-content-type do: client-go's typed clients ask for it
// anyway, but hand-written requests (the event sink's) would send JSON.
func loopbackConfig(handler http.Handler, token string) *rest.Config {
	return &rest.Config{
		Host:          loopbackHost,
		BearerToken:   token,
		Transport:     &inProcessTransport{handler: handler},
		QPS:           -1,
		ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf},
	}
}

// inProcessTransport is an http.RoundTripper that serves requests with an
// http.Handler in the same process. The response body streams (watches
// work): the handler writes into a pipe the caller reads from, and closing
// the body cancels the handler's context.
type inProcessTransport struct {
	handler http.Handler
}

func (t *inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pipe: pw, ready: make(chan struct{})}
	sreq := req.Clone(ctx)
	sreq.RemoteAddr = "127.0.0.1:0"
	sreq.RequestURI = req.URL.RequestURI()
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	go func() {
		defer func() {
			// net/http's server absorbs http.ErrAbortHandler (a filter that
			// abandons a response: timeout, client gone); with no server
			// here, it would crash the process. Any other panic was already
			// turned into a 500 by the handler's recovery filter.
			if v := recover(); v != nil {
				w.commit(http.StatusInternalServerError)
				_ = pw.CloseWithError(fmt.Errorf("handler aborted: %v", v))
				return
			}
			w.commit(http.StatusOK)
			_ = pw.Close()
		}()
		t.handler.ServeHTTP(w, sreq)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		cancel()
		_ = pr.Close()
		return nil, ctx.Err()
	}
	return &http.Response{
		Status:        http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          &cancelingBody{ReadCloser: pr, cancel: cancel},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the handler's side: headers are frozen by the first
// WriteHeader or Write, which also releases RoundTrip.
type pipeWriter struct {
	header http.Header
	pipe   *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
	code   int
	sent   http.Header
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) commit(code int) {
	w.once.Do(func() {
		w.code = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) WriteHeader(code int) { w.commit(code) }

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.commit(http.StatusOK)
	return w.pipe.Write(p)
}

// Flush is a no-op: every Write already reaches the reader.
func (w *pipeWriter) Flush() {}

type cancelingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelingBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}
