package openapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/schemamutation"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Options configures the documents.
type Options struct {
	// Version is the server's version; the documents' info.version is its
	// GitVersion up to the first "-" (as kube-apiserver does). Empty means
	// "unversioned".
	Version version.Info
	// Title is the documents' info.title. Empty means "Kubernetes", which
	// is what kube-apiserver publishes.
	Title string
	// Scheme knows the kinds served; it gives definitions their
	// x-kubernetes-group-version-kind lists and resources their model names.
	// Nil means a scheme of the group versions this package has definitions
	// for (core/v1, batch/v1, coordination/v1, policy/v1, authentication/v1,
	// authorization/v1, rbac/v1, apidiscovery/v2, autoscaling/v1).
	Scheme *runtime.Scheme
	// PatchTypes are the content types PATCH operations consume. Nil means
	// kube-apiserver's: JSON patch, merge patch, strategic merge patch and
	// apply patch (YAML).
	PatchTypes []string
	// NoBearerToken omits the BearerToken security scheme (and the 401
	// response it adds to every operation). Default false: documents declare
	// bearer-token authentication like kube-apiserver.
	NoBearerToken bool
}

// Service serves the OpenAPI v2 and v3 documents of a fixed set of
// resources. All documents are built and encoded by New; a Service is
// immutable afterwards and safe for concurrent use.
type Service struct {
	v2      *document
	v3      map[string]*document // by group-version path: "api/v1", "apis/batch/v1"
	v3Index *document
}

// New builds the documents for resources. It fails when a resource is
// malformed, a kind is unknown to the scheme or has no generated definition.
func New(resources []Resource, opts Options) (*Service, error) {
	cfg, err := newBuildConfig(opts)
	if err != nil {
		return nil, err
	}
	containers, err := cfg.containers(resources)
	if err != nil {
		return nil, err
	}
	v2, err := cfg.buildV2(containers)
	if err != nil {
		return nil, err
	}
	s := &Service{v2: v2, v3: map[string]*document{}}
	for _, c := range containers {
		name := strings.TrimPrefix(c.root, "/")
		doc, err := cfg.buildV3(c, name)
		if err != nil {
			return nil, err
		}
		s.v3[name] = doc
	}
	if s.v3Index, err = newV3Index(s.v3); err != nil {
		return nil, err
	}
	return s, nil
}

// buildConfig holds what every document build needs.
type buildConfig struct {
	scheme *runtime.Scheme
	paths  *pathBuilder
	v2     common.Config
	v3     common.OpenAPIV3Config
}

func newBuildConfig(opts Options) (*buildConfig, error) {
	s := opts.Scheme
	if s == nil {
		var err error
		if s, err = newDefaultScheme(); err != nil {
			return nil, err
		}
	}
	namer, err := newDefinitionNamer(s)
	if err != nil {
		return nil, err
	}
	options, err := newOptionParams()
	if err != nil {
		return nil, err
	}
	patchTypes := opts.PatchTypes
	if patchTypes == nil {
		patchTypes = []string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType)}
	}
	cfg := &buildConfig{scheme: s}
	cfg.paths = &pathBuilder{options: options, modelName: cfg.modelName, patchTypes: patchTypes}
	info := &spec.Info{InfoProps: spec.InfoProps{Title: opts.Title, Version: infoVersion(opts.Version)}}
	if info.Title == "" {
		info.Title = "Kubernetes"
	}
	cfg.v2 = common.Config{
		ProtocolList:                   []string{"https"},
		Info:                           info,
		DefaultResponse:                &spec.Response{ResponseProps: spec.ResponseProps{Description: "Default Response."}},
		GetDefinitions:                 GetOpenAPIDefinitions,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		GetDefinitionName:              namer.GetDefinitionName,
	}
	cfg.v3 = common.OpenAPIV3Config{
		Info:                           info,
		DefaultResponse:                &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Default Response."}},
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		GetDefinitionName:              namer.GetDefinitionName,
	}
	// The v3 builder runs once per group version: compute the definitions once.
	cfg.v3.Definitions = GetOpenAPIDefinitions(func(name string) spec.Ref {
		defName, _ := namer.GetDefinitionName(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
	})
	if !opts.NoBearerToken {
		addBearerToken(&cfg.v2, &cfg.v3)
	}
	return cfg, nil
}

// infoVersion is kube-apiserver's info.version: the version without its
// pre-release and build suffix.
func infoVersion(v version.Info) string {
	if v.GitVersion == "" {
		return "unversioned"
	}
	return strings.Split(v.GitVersion, "-")[0]
}

// addBearerToken declares bearer-token authentication for every operation,
// with its 401 response, as kube-apiserver's authentication options do.
func addBearerToken(v2 *common.Config, v3 *common.OpenAPIV3Config) {
	scheme := spec.SecuritySchemeProps{Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication"}
	v2.SecurityDefinitions = &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: scheme}}
	v2.DefaultSecurity = []map[string][]string{{"BearerToken": {}}}
	v2.CommonResponses = map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}}
	v3.SecuritySchemes = spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
		Type: scheme.Type, Name: scheme.Name, In: scheme.In, Description: scheme.Description,
	}}}
	v3.DefaultSecurity = v2.DefaultSecurity
	v3.CommonResponses = map[int]*spec3.Response{http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}}
}

// modelName is the definition name of a kind of the scheme.
func (c *buildConfig) modelName(gvk schema.GroupVersionKind) (string, error) {
	name, err := c.scheme.ToOpenAPIDefinitionName(gvk)
	if err != nil {
		return "", fmt.Errorf("kind %v: %w", gvk, err)
	}
	return name, nil
}

// containers groups the routes of resources into one web service per group
// version, plus the discovery web services, sorted by root path.
func (c *buildConfig) containers(resources []Resource) ([]*container, error) {
	byGV := map[schema.GroupVersion]*container{}
	var gvs []schema.GroupVersion
	for _, r := range resources {
		if err := r.validate(); err != nil {
			return nil, err
		}
		gv := r.groupVersion()
		if byGV[gv] == nil {
			byGV[gv] = &container{root: rootPath(gv)}
			gvs = append(gvs, gv)
		}
		routes, err := c.paths.resourceRoutes(r)
		if err != nil {
			return nil, err
		}
		byGV[gv].routes = append(byGV[gv].routes, routes...)
	}
	out, discovery := discoveryContainers(gvs)
	for _, gv := range gvs {
		byGV[gv].routes = append(byGV[gv].routes, discovery[gv])
		out = append(out, byGV[gv])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].root < out[j].root })
	return out, nil
}

func (c *buildConfig) buildV2(containers []*container) (*document, error) {
	rcs := make([]common.RouteContainer, 0, len(containers))
	for _, ct := range containers {
		rcs = append(rcs, ct)
	}
	cfg := c.v2 // the builder fills defaults into its config
	sw, err := builder.BuildOpenAPISpecFromRoutes(rcs, &cfg)
	if err != nil {
		return nil, fmt.Errorf("building openapi v2: %w", err)
	}
	sw.Definitions = pruneDefaults(sw.Definitions)
	return newV2Document(sw)
}

func (c *buildConfig) buildV3(ct *container, name string) (*document, error) {
	cfg := c.v3
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{ct}, &cfg)
	if err != nil {
		return nil, fmt.Errorf("building openapi v3 %s: %w", name, err)
	}
	if group, version, ok := groupVersionFromPath(name); ok {
		filterScopedGVKs(doc, group, version)
	}
	return newV3Document(doc)
}

// pruneDefaults drops every "default" from the v2 definitions, as
// kube-apiserver does for /openapi/v2 (kube-openapi handler.PruneDefaults).
// The walker copies what it changes, so shared definitions stay intact.
func pruneDefaults(defs spec.Definitions) spec.Definitions {
	walker := &schemamutation.Walker{
		SchemaCallback: func(s *spec.Schema) *spec.Schema {
			if s.Default == nil {
				return s
			}
			clone := *s
			clone.Default = nil
			return &clone
		},
		RefCallback: schemamutation.RefCallbackNoop,
	}
	out := make(spec.Definitions, len(defs))
	for name, def := range defs {
		out[name] = *walker.WalkSchema(&def)
	}
	return out
}
