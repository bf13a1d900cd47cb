package openapi

import (
	"k8s.io/kube-openapi/pkg/common"
)

// The types below implement kube-openapi's route model (common.RouteContainer,
// common.Route, common.Parameter, common.StatusCodeResponse) so that its
// builders produce the documents, exactly as they do from go-restful web
// services inside kube-apiserver.

// container is one web service: every route under a root path such as
// /apis/batch/v1. OpenAPI v3 publishes one document per container.
type container struct {
	root   string
	routes []common.Route
}

var _ common.RouteContainer = (*container)(nil)

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route             { return c.routes }

// route is one operation.
type route struct {
	method      string
	path        string
	operation   string
	description string
	params      []param
	consumes    []string
	produces    []string
	metadata    map[string]interface{}
	reads       interface{}
	writes      interface{}
	responses   []response
}

var _ common.Route = (*route)(nil)

func (r *route) Method() string        { return r.method }
func (r *route) Path() string          { return r.path }
func (r *route) OperationName() string { return r.operation }
func (r *route) Parameters() []common.Parameter {
	out := make([]common.Parameter, 0, len(r.params))
	for _, p := range r.params {
		out = append(out, p)
	}
	return out
}
func (r *route) Description() string                { return r.description }
func (r *route) Consumes() []string                 { return r.consumes }
func (r *route) Produces() []string                 { return r.produces }
func (r *route) Metadata() map[string]interface{}   { return r.metadata }
func (r *route) RequestPayloadSample() interface{}  { return r.reads }
func (r *route) ResponsePayloadSample() interface{} { return r.writes }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse {
	out := make([]common.StatusCodeResponse, 0, len(r.responses))
	for _, resp := range r.responses {
		out = append(out, resp)
	}
	return out
}

// param is one operation parameter. dataType is a JSON type name (string,
// integer, boolean, number); it is ignored for the body.
type param struct {
	name        string
	description string
	required    bool
	kind        common.ParameterKind
	dataType    string
}

var _ common.Parameter = param{}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.description }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.dataType }
func (p param) AllowMultiple() bool        { return false }

// response is one documented status code.
type response struct {
	code    int
	message string
	model   interface{}
}

var _ common.StatusCodeResponse = response{}

func (r response) Code() int          { return r.code }
func (r response) Message() string    { return r.message }
func (r response) Model() interface{} { return r.model }

// model stands in for a Go value in the builders: they name a payload by its
// OpenAPIModelName method (util.GetCanonicalTypeName), which is all they need.
type model string

func (m model) OpenAPIModelName() string { return string(m) }

// stringModel makes the builders emit {"type": "string"} (pods/log).
const stringModel = ""
