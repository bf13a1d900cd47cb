package garbagecollector

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
)

// Config configures a garbage collector.
type Config struct {
	// Metadata is the client for every live GET, PATCH and DELETE the
	// collector sends (PartialObjectMetadata). Required.
	Metadata metadata.Interface
	// Informers provides the metadata informers the graph is built from. The
	// composition root shares it; Run starts the informers requested here.
	// Required.
	Informers metadatainformer.SharedInformerFactory
	// Resources are the resources watched for ownerReferences. Empty means
	// DefaultResources().
	Resources []schema.GroupVersionResource
	// RESTMapper maps an ownerReference's apiVersion and kind to a resource
	// and its scope, and each watched resource to its kind. Nil means
	// DefaultRESTMapper().
	RESTMapper meta.RESTMapper
	// Logger receives the collector's logs. Nil discards them.
	Logger *slog.Logger
	// SyncTimeout bounds how long Run waits for the informers to sync before
	// it proceeds with those that did (upstream does the same, so that one
	// resource the server does not serve cannot stop collection). Zero means
	// 30s.
	SyncTimeout time.Duration
	// AbsentOwnerCacheSize bounds the cache of owners verified absent.
	// Zero means 1024.
	AbsentOwnerCacheSize int
}

func (c *Config) validateAndDefault() error {
	if c.Metadata == nil {
		return errors.New("garbage collector: Metadata client is required")
	}
	if c.Informers == nil {
		return errors.New("garbage collector: Informers factory is required")
	}
	if len(c.Resources) == 0 {
		c.Resources = DefaultResources()
	}
	if c.RESTMapper == nil {
		c.RESTMapper = DefaultRESTMapper()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 30 * time.Second
	}
	if c.AbsentOwnerCacheSize <= 0 {
		c.AbsentOwnerCacheSize = 1024
	}
	return nil
}

// builtinResource describes one resource Skiff serves.
type builtinResource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

func builtinResources() []builtinResource {
	return []builtinResource{
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "Pod", true},
		{schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, "Job", true},
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ConfigMap", true},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "Secret", true},
		{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "ServiceAccount", true},
		{schema.GroupVersionResource{Version: "v1", Resource: "events"}, "Event", true},
		{schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}, "Event", true},
		{schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}, "Lease", true},
		{schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "Namespace", false},
		{schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, "Node", false},
	}
}

// DefaultResources returns the resources Skiff serves that can carry
// ownerReferences. Unlike upstream, events are included: Skiff's list is
// short and an event owned by a deleted object should go with it.
func DefaultResources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range builtinResources() {
		out = append(out, r.gvr)
	}
	return out
}

// DefaultRESTMapper returns a static RESTMapper for the resources Skiff
// serves. Core "Event" maps to v1 events; events.k8s.io Events map to their
// own group.
func DefaultRESTMapper() meta.RESTMapper {
	var gvs []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range builtinResources() {
		if gv := r.gvr.GroupVersion(); !seen[gv] {
			seen[gv] = true
			gvs = append(gvs, gv)
		}
	}
	m := meta.NewDefaultRESTMapper(gvs)
	for _, r := range builtinResources() {
		scope := meta.RESTScopeRoot
		if r.namespaced {
			scope = meta.RESTScopeNamespace
		}
		gvk := r.gvr.GroupVersion().WithKind(r.kind)
		singular := r.gvr.GroupVersion().WithResource(strings.ToLower(r.kind))
		m.AddSpecific(gvk, r.gvr, singular, scope)
	}
	return m
}
