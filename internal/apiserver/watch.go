package apiserver

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"

	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage/cacher"
)

// minRequestTimeout is upstream's --min-request-timeout: a watch without
// timeoutSeconds ends after a random time between it and twice it, so
// clients spread their re-watches.
const minRequestTimeout = 30 * time.Minute

func (s *Server) watch(w http.ResponseWriter, r *http.Request, req *Request) error {
	opts, err := listOptions(r, req.Resource)
	if err != nil {
		return err
	}
	if req.Name != "" {
		if err := withFieldSelectorName(opts, req.Name); err != nil {
			return err
		}
	}
	mt, err := negotiate(r, req.Resource)
	if err != nil {
		return err
	}
	info, err := negotiation.NegotiateOutputMediaTypeStream(r, scheme.Codecs, restrictions{table: req.Resource.Store.TableConvertor() != nil})
	if err != nil {
		return err
	}
	timeout := time.Duration(float64(minRequestTimeout) * (rand.Float64() + 1))
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	watcher, err := req.store().Watch(ctx, req.Namespace, opts)
	if err != nil {
		return err
	}
	defer watcher.Stop()

	embedded := scheme.Codecs.EncoderForVersion(info.Serializer, req.Resource.GroupVersion)
	if mt.Convert != nil {
		embedded = metainternalversionscheme.Codecs.EncoderForVersion(info.Serializer, mt.Convert.GroupVersion())
	}
	mediaType := info.MediaType
	if mediaType != runtime.ContentTypeJSON {
		mediaType += ";stream=watch"
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	framer := info.StreamSerializer.Framer.NewFrameWriter(w)
	events := info.StreamSerializer.Serializer
	var objBuf, eventBuf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				return nil
			}
			obj, err := s.watchObject(ctx, r, req, mt, ev)
			if err != nil {
				obj, ev.Type = statusObject(err), watch.Error
			}
			objBuf.Reset()
			if err := embedded.Encode(obj, &objBuf); err != nil {
				s.logger.Error("encoding watch event", "err", err)
				return nil
			}
			eventBuf.Reset()
			we := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: objBuf.Bytes()}}
			if err := events.Encode(we, &eventBuf); err != nil {
				s.logger.Error("encoding watch event", "err", err)
				return nil
			}
			if _, err := framer.Write(eventBuf.Bytes()); err != nil {
				return nil // client went away
			}
			if len(watcher.ResultChan()) == 0 && flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// watchObject transforms an event's object as the request asked (Table,
// PartialObjectMetadata) on a private copy.
// Objects the watch cache shares between watchers come as
// runtime.CacheableObject, which encoders encode once for all of them.
func (s *Server) watchObject(ctx context.Context, r *http.Request, req *Request, mt negotiation.MediaTypeOptions, ev watch.Event) (runtime.Object, error) {
	obj := ev.Object
	co, cacheable := obj.(runtime.CacheableObject)
	if mt.Convert == nil {
		if cacheable {
			return obj, nil
		}
		return cacher.ShallowCopy(obj), nil
	}
	if cacheable {
		obj = co.GetObject()
	}
	if ev.Type == watch.Bookmark || mt.Convert.Kind != "Table" {
		return partialMetadata(obj, mt.Convert.GroupVersion())
	}
	return transform(ctx, r, req.Resource, mt, obj)
}

func statusObject(err error) runtime.Object {
	if st, ok := err.(apierrors.APIStatus); ok {
		s := st.Status()
		return &s
	}
	s := apierrors.NewInternalError(err).Status()
	return &s
}
