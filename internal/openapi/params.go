package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/common"
)

// Parameter descriptions kube-apiserver publishes for parameters that are
// not fields of an options struct.
const (
	prettyDescription    = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."
	namespaceDescription = "object name and auth scope, such as for teams and projects"
)

func prettyParam() param {
	return param{name: "pretty", description: prettyDescription, kind: common.QueryParameterKind, dataType: "string"}
}

func namespaceParam() param {
	return param{name: "namespace", description: namespaceDescription, required: true, kind: common.PathParameterKind, dataType: "string"}
}

func nameParam(kind string) param {
	return param{name: "name", description: "name of the " + kind, required: true, kind: common.PathParameterKind, dataType: "string"}
}

func bodyParam(required bool) param {
	return param{name: "body", required: required, kind: common.BodyParameterKind}
}

// documented is what the k8s.io option types implement: per-field docs keyed
// by JSON name.
type documented interface{ SwaggerDoc() map[string]string }

// optionParams holds the query parameters of each options struct, computed
// once: what kube-apiserver's AddObjectParams derives from the same types.
type optionParams struct {
	list, create, update, patch, delete, podLog []param
}

func newOptionParams() (*optionParams, error) {
	o := &optionParams{}
	sources := []struct {
		dst *[]param
		obj documented
	}{
		{&o.list, &metav1.ListOptions{}},
		{&o.create, &metav1.CreateOptions{}},
		{&o.update, &metav1.UpdateOptions{}},
		{&o.patch, &metav1.PatchOptions{}},
		{&o.delete, &metav1.DeleteOptions{}},
		{&o.podLog, &corev1.PodLogOptions{}},
	}
	for _, s := range sources {
		params, err := queryParams(s.obj)
		if err != nil {
			return nil, err
		}
		*s.dst = params
	}
	return o, nil
}

// queryParams turns the top-level scalar fields of an options struct into
// query parameters named by their JSON names, like upstream: embedded and
// nested structs (TypeMeta, Preconditions, *metav1.Time) are skipped.
func queryParams(obj documented) ([]param, error) {
	t := reflect.TypeOf(obj)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("options %T must be a pointer to a struct", obj)
	}
	t = t.Elem()
	docs := obj.SwaggerDoc()
	var out []param
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		dataType, ok := jsonTypeOf(f.Type)
		if !ok {
			continue
		}
		out = append(out, param{name: name, description: docs[name], kind: common.QueryParameterKind, dataType: dataType})
	}
	return out, nil
}

// jsonTypeOf maps a scalar Go type (or a pointer to or slice of one) to its
// JSON type name; false for structs, maps and interfaces.
func jsonTypeOf(t reflect.Type) (string, bool) {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean", true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", true
	case reflect.Float32, reflect.Float64:
		return "number", true
	case reflect.String:
		return "string", true
	default:
		return "", false
	}
}

// without returns params minus the named ones (deletecollection takes list
// options without watch and allowWatchBookmarks).
func without(params []param, names ...string) []param {
	var out []param
	for _, p := range params {
		if !slices.Contains(names, p.name) {
			out = append(out, p)
		}
	}
	return out
}
