package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/warning"

	"github.com/skiff-sh/skiff/internal/scheme"
)

// readBody reads a request body up to limit bytes; a larger one is a 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	defer r.Body.Close()
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, tooLarge(limit)
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(limit)
	}
	return data, nil
}

func tooLarge(limit int64) error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
}

// fieldValidation returns the directive for unknown and duplicate fields;
// upstream's default is Warn.
func fieldValidation(v string) (string, error) {
	switch v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation parameter unsupported: %s", v))
}

// decodeObject decodes a create or update body into a new object of the
// resource's kind, honouring Content-Type and fieldValidation as upstream.
func (s *Server) decodeObject(r *http.Request, into runtime.Object, gvk schema.GroupVersionKind, directive string) (runtime.Object, error) {
	body, err := readBody(r, s.cfg.MaxRequestBodyBytes)
	if err != nil {
		return nil, err
	}
	info, err := negotiation.NegotiateInputSerializer(r, false, scheme.Codecs)
	if err != nil {
		return nil, err
	}
	serializer := info.Serializer
	if directive != metav1.FieldValidationIgnore && info.StrictSerializer != nil {
		serializer = info.StrictSerializer
	}
	decoder := scheme.Codecs.DecoderToVersion(serializer, gvk.GroupVersion())
	obj, got, err := decoder.Decode(body, &gvk, into)
	if err != nil {
		strictErr, isStrict := runtime.AsStrictDecodingError(err)
		switch {
		case isStrict && obj != nil && directive == metav1.FieldValidationWarn:
			for _, e := range strictErr.Errors() {
				warning.AddWarning(r.Context(), "", e.Error())
			}
		case isStrict && obj != nil && directive == metav1.FieldValidationIgnore:
		default:
			return nil, decodeError(err, gvk, got, body)
		}
	}
	if got != nil && got.GroupVersion() != gvk.GroupVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%v)", got.GroupVersion().String(), gvk.GroupVersion().String()))
	}
	if obj != into {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s)", gvk.Kind))
	}
	return obj, nil
}

// decodeError is upstream's transformDecodeError.
func decodeError(err error, want schema.GroupVersionKind, got *schema.GroupVersionKind, body []byte) error {
	if got != nil && got.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, want.Kind, err))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)", want.Kind, err, summarize(body, 30)))
}

// summarize is upstream's summarizeData: a short, printable excerpt of a
// body for an error message.
func summarize(data []byte, n int) string {
	if len(data) == 0 {
		return "<empty>"
	}
	if data[0] == '{' {
		if len(data) > n {
			return fmt.Sprintf("%s ...", data[:n])
		}
		return string(data)
	}
	if len(data) > n {
		return fmt.Sprintf("%x ...", data[:n])
	}
	return fmt.Sprintf("%x", data)
}

// checkName rejects a body whose name or namespace disagrees with the URL.
func checkName(obj runtime.Object, req *Request) error {
	m, err := mustMeta(obj)
	if err != nil {
		return err
	}
	if m.GetName() != req.Name {
		if m.GetName() == "" {
			m.SetName(req.Name)
		} else {
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), req.Name))
		}
	}
	if req.Resource.namespaced() {
		switch m.GetNamespace() {
		case req.Namespace:
		case "":
			m.SetNamespace(req.Namespace)
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", m.GetNamespace(), req.Namespace))
		}
	}
	return nil
}

// DecodeBody decodes a request body into obj (for custom subresources:
// Binding, Eviction) with upstream's size limit and content negotiation.
func DecodeBody(r *http.Request, obj runtime.Object, gvk schema.GroupVersionKind) error {
	s := &Server{cfg: Config{MaxRequestBodyBytes: DefaultMaxRequestBodyBytes}}
	_, err := s.decodeObject(r, obj, gvk, metav1.FieldValidationWarn)
	return err
}
