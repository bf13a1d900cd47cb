package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/skiff-sh/skiff/internal/scheme"
)

// aggregatedContentType is what client-go asks for first and expects back
// verbatim for aggregated discovery.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// discovery serves /api, /apis and the per group-version resource lists,
// legacy and aggregated (apidiscovery.k8s.io/v2), all precomputed.
type discovery struct {
	reg *registry
	// legacy per path: "/api/v1", "/apis/batch/v1", "/apis/batch"
	lists  map[string]runtime.Object
	groups *metav1.APIGroupList
	// aggregated documents for /api and /apis
	aggCore, aggGroups *apidiscoveryv2.APIGroupDiscoveryList
}

func newDiscovery(reg *registry) *discovery {
	d := &discovery{reg: reg, lists: map[string]runtime.Object{}, groups: &metav1.APIGroupList{}}
	d.aggCore = &apidiscoveryv2.APIGroupDiscoveryList{}
	d.aggGroups = &apidiscoveryv2.APIGroupDiscoveryList{}
	for _, g := range reg.groups {
		agg := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		group := metav1.APIGroup{Name: g.name}
		for _, v := range g.versions {
			gv := schema.GroupVersion{Group: g.name, Version: v}
			list := &metav1.APIResourceList{GroupVersion: gv.String()}
			aggVersion := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, r := range g.resources[v] {
				list.APIResources = append(list.APIResources, legacyResources(r)...)
				aggVersion.Resources = append(aggVersion.Resources, aggregatedResource(r))
			}
			agg.Versions = append(agg.Versions, aggVersion)
			gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: v}
			group.Versions = append(group.Versions, gvd)
			if g.name == "" {
				d.lists["/api/"+v] = list
			} else {
				d.lists["/apis/"+g.name+"/"+v] = list
			}
		}
		if g.name == "" {
			d.aggCore.Items = append(d.aggCore.Items, agg)
			continue
		}
		group.PreferredVersion = group.Versions[0]
		d.lists["/apis/"+g.name] = &group
		d.groups.Groups = append(d.groups.Groups, group)
		d.aggGroups.Items = append(d.aggGroups.Items, agg)
	}
	for _, l := range []*apidiscoveryv2.APIGroupDiscoveryList{d.aggCore, d.aggGroups} {
		l.SetGroupVersionKind(apidiscoveryv2.SchemeGroupVersion.WithKind("APIGroupDiscoveryList"))
	}
	return d
}

func (d *discovery) serve(w http.ResponseWriter, r *http.Request, path string) error {
	if path == "/api" || path == "/apis" {
		if wantsAggregated(r.Header.Get("Accept")) {
			doc := d.aggGroups
			if path == "/api" {
				doc = d.aggCore
			}
			return writeAggregated(w, r, doc)
		}
		if path == "/api" {
			versions := &metav1.APIVersions{Versions: []string{"v1"}, ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)}}}
			return writeDiscovery(w, r, versions)
		}
		return writeDiscovery(w, r, d.groups)
	}
	obj := d.lists[path]
	if obj == nil {
		return notFoundRoute()
	}
	return writeDiscovery(w, r, obj)
}

func serverAddress(r *http.Request) string {
	if _, _, err := net.SplitHostPort(r.Host); err == nil {
		return r.Host
	}
	return net.JoinHostPort(r.Host, "443")
}

func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if strings.Contains(part, "as=APIGroupDiscoveryList") && strings.Contains(part, "g=apidiscovery.k8s.io") && strings.Contains(part, "v=v2") && strings.Contains(part, "application/json") {
			return true
		}
	}
	return false
}

func writeDiscovery(w http.ResponseWriter, r *http.Request, obj runtime.Object) error {
	responsewriters.WriteObjectNegotiated(scheme.Codecs, negotiation.DefaultEndpointRestrictions, schema.GroupVersion{}, w, r, http.StatusOK, obj, false)
	return nil
}

func writeAggregated(w http.ResponseWriter, r *http.Request, doc *apidiscoveryv2.APIGroupDiscoveryList) error {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		return internalError(errNoJSON)
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.WriteHeader(http.StatusOK)
	return info.Serializer.Encode(doc, w)
}

var errNoJSON = errors.New("no JSON serializer registered")

func scope(r *Resource) apidiscoveryv2.ResourceScope {
	if r.namespaced() {
		return apidiscoveryv2.ScopeNamespace
	}
	return apidiscoveryv2.ScopeCluster
}

func legacyResources(r *Resource) []metav1.APIResource {
	out := []metav1.APIResource{{
		Name: r.Name, SingularName: r.SingularName, Namespaced: r.namespaced(), Kind: r.Kind,
		Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories,
	}}
	if r.Handler == nil {
		out[0].StorageVersionHash = storageVersionHash(r.GroupVersion.WithKind(r.Kind))
	}
	for _, name := range sortedSubresources(r) {
		sub := r.Subresources[name]
		res := metav1.APIResource{Name: r.Name + "/" + name, Namespaced: r.namespaced(), Kind: sub.Kind, Verbs: sub.Verbs}
		if sub.GroupVersion != nil {
			res.Group, res.Version = sub.GroupVersion.Group, sub.GroupVersion.Version
		}
		out = append(out, res)
	}
	return out
}

func aggregatedResource(r *Resource) apidiscoveryv2.APIResourceDiscovery {
	d := apidiscoveryv2.APIResourceDiscovery{
		Resource:         r.Name,
		ResponseKind:     &metav1.GroupVersionKind{Group: r.GroupVersion.Group, Version: r.GroupVersion.Version, Kind: r.Kind},
		Scope:            scope(r),
		SingularResource: r.SingularName,
		Verbs:            r.Verbs,
		ShortNames:       r.ShortNames,
		Categories:       r.Categories,
	}
	for _, name := range sortedSubresources(r) {
		sub := r.Subresources[name]
		gv := r.GroupVersion
		if sub.GroupVersion != nil {
			gv = *sub.GroupVersion
		}
		d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  name,
			ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: sub.Kind},
			Verbs:        sub.Verbs,
		})
	}
	return d
}

func sortedSubresources(r *Resource) []string {
	return slices.Sorted(maps.Keys(r.Subresources))
}

// storageVersionHash is upstream's: the first 8 bytes of the SHA-256 of the
// storage group/version/kind, base64.
func storageVersionHash(gvk schema.GroupVersionKind) string {
	sum := sha256.Sum256([]byte(gvk.GroupVersion().String() + "/" + gvk.Kind))
	return base64.StdEncoding.EncodeToString(sum[:8])
}
