package openapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// groupVersionFromPath splits "api/v1" and "apis/batch/v1" into group and
// version; false for the other documents (api, apis, apis/batch, version).
func groupVersionFromPath(p string) (group, version string, ok bool) {
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 2 && parts[0] == "api":
		return "", parts[1], true
	case len(parts) == 3 && parts[0] == "apis":
		return parts[1], parts[2], true
	default:
		return "", "", false
	}
}

// crossRegisteredKinds are the meta kinds every group version registers;
// kube-apiserver narrows their GVK lists in per-group-version documents.
var crossRegisteredKinds = map[string]bool{"WatchEvent": true, "DeleteOptions": true}

// filterScopedGVKs keeps, on WatchEvent and DeleteOptions, only the GVKs of
// this document's group version and core/v1, as kube-apiserver does
// (k8s.io/apiserver/pkg/server/routes/openapi.go). Extension maps may be
// shared with the definitions other documents use, so they are replaced,
// never edited.
func filterScopedGVKs(doc *spec3.OpenAPI, group, version string) {
	if doc == nil || doc.Components == nil {
		return
	}
	for _, schema := range doc.Components.Schemas {
		if schema == nil {
			continue
		}
		gvks, ok := schema.Extensions[extensionGVK].([]interface{})
		if !ok || len(gvks) <= 1 || !crossRegisteredKinds[gvkField(gvks[0], "kind")] {
			continue
		}
		var kept []interface{}
		for _, item := range gvks {
			g, v := gvkField(item, "group"), gvkField(item, "version")
			if (g == group && v == version) || (g == "" && v == "v1") {
				kept = append(kept, item)
			}
		}
		ext := spec.Extensions{}
		for k, v := range schema.Extensions {
			ext[k] = v
		}
		if len(kept) > 0 {
			ext[extensionGVK] = kept
		} else {
			delete(ext, extensionGVK)
		}
		schema.Extensions = ext
	}
}

func gvkField(item interface{}, field string) string {
	m, _ := item.(map[string]interface{})
	s, _ := m[field].(string)
	return s
}

// v3Index is the body of /openapi/v3 (handler3.OpenAPIV3Discovery).
type v3Index struct {
	Paths map[string]v3IndexEntry `json:"paths"`
}

type v3IndexEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

// serverRelativeURL is where a document lives, pinned to its current hash.
func serverRelativeURL(name, etag string) string {
	u := url.URL{Path: path.Join("/openapi/v3", name), RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

func newV3Index(docs map[string]*document) (*document, error) {
	names := make([]string, 0, len(docs))
	for name := range docs {
		names = append(names, name)
	}
	sort.Strings(names)
	index := v3Index{Paths: map[string]v3IndexEntry{}}
	for _, name := range names {
		index.Paths[name] = v3IndexEntry{ServerRelativeURL: serverRelativeURL(name, docs[name].etag)}
	}
	body, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("encoding openapi v3 index: %w", err)
	}
	return newDocument(body, nil)
}
