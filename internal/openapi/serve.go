package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Content types of the documents, as kube-apiserver answers them. Clients
// may ask for the deprecated "@" spellings; the answer always carries the
// dotted one.
const (
	contentTypeJSON       = "application/json"
	protoV2               = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	protoV2Deprecated     = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
	protoV3               = "com.github.proto-openapi.spec.v3.v1.0+protobuf"
	protoV3Deprecated     = "com.github.proto-openapi.spec.v3@v1.0+protobuf"
	contentTypeProtoV2    = "application/" + protoV2
	contentTypeProtoV3    = "application/" + protoV3
	v3Prefix              = "/openapi/v3"
	gzipMinimumSize       = 1024
	immutableCacheControl = "public, immutable"
)

// encoded is one representation of a document, plain and gzipped.
type encoded struct {
	body, gzipped []byte
}

// document is a built document, encoded in every form it is served in.
type document struct {
	json         encoded
	proto        encoded // empty for the v3 index
	etag         string  // hex SHA-512 of the JSON, as kube-openapi computes it
	lastModified time.Time
}

func newV2Document(sw *spec.Swagger) (*document, error) {
	body, err := sw.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding openapi v2: %w", err)
	}
	// What kube-openapi's handler.ToProtoBinary does; that package pulls in
	// a gzip middleware this module does not carry.
	parsed, err := openapi_v2.ParseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("parsing openapi v2 for protobuf: %w", err)
	}
	pb, err := proto.Marshal(parsed)
	if err != nil {
		return nil, fmt.Errorf("encoding openapi v2 as protobuf: %w", err)
	}
	return newDocument(body, pb)
}

func newV3Document(doc *spec3.OpenAPI) (*document, error) {
	body, err := doc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding openapi v3: %w", err)
	}
	proto, err := handler3.ToV3ProtoBinary(body)
	if err != nil {
		return nil, fmt.Errorf("encoding openapi v3 as protobuf: %w", err)
	}
	return newDocument(body, proto)
}

func newDocument(body, proto []byte) (*document, error) {
	d := &document{etag: fmt.Sprintf("%X", sha512.Sum512(body)), lastModified: time.Now().UTC().Truncate(time.Second)}
	var err error
	if d.json, err = encode(body); err != nil {
		return nil, err
	}
	if proto != nil {
		if d.proto, err = encode(proto); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func encode(body []byte) (encoded, error) {
	e := encoded{body: body}
	if len(body) < gzipMinimumSize {
		return e, nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return encoded{}, fmt.Errorf("compressing document: %w", err)
	}
	if _, err := zw.Write(body); err != nil {
		return encoded{}, fmt.Errorf("compressing document: %w", err)
	}
	if err := zw.Close(); err != nil {
		return encoded{}, fmt.Errorf("compressing document: %w", err)
	}
	e.gzipped = buf.Bytes()
	return e, nil
}

// representation is a content type a document can be served as.
type representation struct {
	subType     string // as matched against Accept
	contentType string // as answered
	proto       bool
}

var (
	v2Representations = []representation{
		{subType: "json", contentType: contentTypeJSON},
		{subType: protoV2Deprecated, contentType: contentTypeProtoV2, proto: true},
		{subType: protoV2, contentType: contentTypeProtoV2, proto: true},
	}
	v3Representations = []representation{
		{subType: "json", contentType: contentTypeJSON},
		{subType: protoV3, contentType: contentTypeProtoV3, proto: true},
		{subType: protoV3Deprecated, contentType: contentTypeProtoV3, proto: true},
	}
)

// negotiate picks the first representation the Accept header allows, in
// the client's order of preference; an absent header accepts anything.
func negotiate(accept string, offered []representation) (representation, bool) {
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, o := range offered {
			if (clause.Type == "application" || clause.Type == "*") && (clause.SubType == o.subType || clause.SubType == "*") {
				return o, true
			}
		}
	}
	return representation{}, false
}

// ServeV2 answers GET /openapi/v2: JSON or protobuf by Accept, with an
// ETag (304 on a matching If-None-Match) and gzip when accepted.
func (s *Service) ServeV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	rep, ok := negotiate(r.Header.Get("Accept"), v2Representations)
	if !ok {
		http.Error(w, "openapi/v2 is served as application/json or "+contentTypeProtoV2, http.StatusNotAcceptable)
		return
	}
	s.v2.serve(w, r, rep)
}

// ServeV3 answers GET /openapi/v3 (the index of group-version documents)
// and GET /openapi/v3/<group-version path> (one document, JSON or protobuf
// by Accept). A ?hash= naming the current document makes the answer
// cacheable forever; a stale hash redirects to the current one.
func (s *Service) ServeV3(w http.ResponseWriter, r *http.Request) {
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, v3Prefix), "/")
	if name == "" {
		w.Header().Set("Content-Type", contentTypeJSON)
		s.v3Index.serve(w, r, v3Representations[0])
		return
	}
	doc, ok := s.v3[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Add("Vary", "Accept")
	rep, ok := negotiate(r.Header.Get("Accept"), v3Representations)
	if !ok {
		http.Error(w, "openapi/v3 documents are served as application/json or "+contentTypeProtoV3, http.StatusNotAcceptable)
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.etag {
			http.Redirect(w, r, serverRelativeURL(name, doc.etag), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", immutableCacheControl)
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	doc.serve(w, r, rep)
}

// serve writes one representation; http.ServeContent answers HEAD, ranges
// and the If-None-Match / If-Modified-Since preconditions.
func (d *document) serve(w http.ResponseWriter, r *http.Request, rep representation) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e := d.json
	if rep.proto {
		e = d.proto
	}
	body := e.body
	w.Header().Add("Vary", "Accept-Encoding")
	if e.gzipped != nil && acceptsGzip(r) {
		body = e.gzipped
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Type", rep.contentType)
	w.Header().Set("Etag", strconv.Quote(d.etag))
	http.ServeContent(w, r, "", d.lastModified, bytes.NewReader(body))
}

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero
// quality.
func acceptsGzip(r *http.Request) bool {
	for _, value := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(value, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			name, q, found := strings.Cut(strings.TrimSpace(params), "=")
			if !found || strings.TrimSpace(name) != "q" {
				return true
			}
			quality, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
			return err == nil && quality > 0
		}
	}
	return false
}
