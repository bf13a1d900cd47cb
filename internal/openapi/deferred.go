package openapi

import (
	"net/http"
)

// Deferred builds the documents in the background and serves them once they
// are built. Building every schema of the served types takes most of a
// second, which a server should not spend before it is ready: only kubectl's
// validation and explain need the documents, and a request that comes
// before they are built waits for them.
type Deferred struct {
	done chan struct{}
	svc  *Service
	err  error
}

// NewDeferred starts building the documents New would build.
func NewDeferred(resources []Resource, opts Options) *Deferred {
	d := &Deferred{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.svc, d.err = New(resources, opts)
	}()
	return d
}

// Wait blocks until the documents are built and returns the build's error.
func (d *Deferred) Wait() error {
	<-d.done
	return d.err
}

// ServeV2 serves /openapi/v2 as Service.ServeV2 does, once built.
func (d *Deferred) ServeV2(w http.ResponseWriter, r *http.Request) {
	if svc := d.service(w, r); svc != nil {
		svc.ServeV2(w, r)
	}
}

// ServeV3 serves /openapi/v3 as Service.ServeV3 does, once built.
func (d *Deferred) ServeV3(w http.ResponseWriter, r *http.Request) {
	if svc := d.service(w, r); svc != nil {
		svc.ServeV3(w, r)
	}
}

// service waits for the build; nil means the answer has been written.
func (d *Deferred) service(w http.ResponseWriter, r *http.Request) *Service {
	select {
	case <-d.done:
	case <-r.Context().Done():
		http.Error(w, "the OpenAPI documents are still being built", http.StatusServiceUnavailable)
		return nil
	}
	if d.err != nil {
		http.Error(w, "building the OpenAPI documents failed: "+d.err.Error(), http.StatusInternalServerError)
		return nil
	}
	return d.svc
}
