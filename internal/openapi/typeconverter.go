package openapi

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder3"
)

// NewTypeConverter builds the structured-merge-diff type converter that
// server-side apply and managedFields tracking need, from the generated
// definitions of every kind of s (nil: the default scheme) that has one.
// kube-apiserver does the same from its own definitions
// (GenericAPIServer.getOpenAPIModels: BuildOpenAPIDefinitionsForResources,
// then managedfields.NewTypeConverter). It takes a few tens of
// milliseconds; build it once and share it.
func NewTypeConverter(s *runtime.Scheme) (managedfields.TypeConverter, error) {
	cfg, err := newBuildConfig(Options{Scheme: s, NoBearerToken: true})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for gvk := range cfg.scheme.AllKnownTypes() {
		name, err := cfg.scheme.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("naming definition of %v: %w", gvk, err)
		}
		if _, ok := cfg.v3.Definitions[name]; ok {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(&cfg.v3, names...)
	if err != nil {
		return nil, fmt.Errorf("building schemas for the type converter: %w", err)
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("building the type converter: %w", err)
	}
	return tc, nil
}

// DeferredTypeConverter builds the type converter in the background, so that
// a server need not wait for it before it is ready; the first write that
// needs it waits instead.
type DeferredTypeConverter struct {
	// done is closed once tc and err are set; they are read-only after.
	done chan struct{}
	tc   managedfields.TypeConverter
	err  error
}

// NewDeferredTypeConverter starts building NewTypeConverter(s).
func NewDeferredTypeConverter(s *runtime.Scheme) *DeferredTypeConverter {
	d := &DeferredTypeConverter{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.tc, d.err = NewTypeConverter(s)
	}()
	return d
}

// TypeConverter waits for the build (or ctx) and returns its result. It is
// safe for concurrent use.
func (d *DeferredTypeConverter) TypeConverter(ctx context.Context) (managedfields.TypeConverter, error) {
	select {
	case <-d.done:
		return d.tc, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the type converter: %w", ctx.Err())
	}
}
