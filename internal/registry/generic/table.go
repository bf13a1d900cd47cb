package generic

import (
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// BuildTable assembles a server-side Table from a resource's rows: the column
// definitions (unless opts.NoHeaders), the list metadata of obj, and each
// row's object as opts.IncludeObject asks, as kube-apiserver does: Metadata
// (the default) gives a PartialObjectMetadata, Object a copy with its kind
// (gvk) set, None nothing.
func BuildTable(obj runtime.Object, columns []metav1.TableColumnDefinition, rows []metav1.TableRow, opts *metav1.TableOptions, gvk schema.GroupVersionKind) (*metav1.Table, error) {
	table := &metav1.Table{Rows: rows}
	if opts == nil || !opts.NoHeaders {
		table.ColumnDefinitions = columns
	}
	if l, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = l.GetResourceVersion()
		table.Continue = l.GetContinue()
		table.RemainingItemCount = l.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	include := metav1.IncludeMetadata
	if opts != nil && opts.IncludeObject != "" {
		include = opts.IncludeObject
	}
	for i := range table.Rows {
		item := &table.Rows[i].Object
		if item.Object == nil {
			continue
		}
		switch include {
		case metav1.IncludeObject:
			full := item.Object.DeepCopyObject()
			full.GetObjectKind().SetGroupVersionKind(gvk)
			item.Object = full
		case metav1.IncludeMetadata:
			m, err := meta.Accessor(item.Object)
			if err != nil {
				return nil, fmt.Errorf("%s table: reading metadata: %w", gvk.Kind, err)
			}
			partial := meta.AsPartialObjectMetadata(m)
			partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
			item.Object = partial
		case metav1.IncludeNone:
			item.Object = nil
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", include))
		}
	}
	return table, nil
}

// HumanAge renders the time from t to now as upstream's
// translateTimestampSince ("<unknown>" for a zero time).
func HumanAge(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// Table is a resource's ConvertToTable for the common case: obj is one
// object (*T) or a list (*L) whose items gives its T values, and row renders
// one of them; the result is assembled by BuildTable with kind gvk.
func Table[T, L any](obj runtime.Object, opts *metav1.TableOptions, columns []metav1.TableColumnDefinition, gvk schema.GroupVersionKind,
	items func(*L) []T, row func(*T) metav1.TableRow) (*metav1.Table, error) {
	var rows []metav1.TableRow
	switch o := any(obj).(type) {
	case *T:
		rows = []metav1.TableRow{row(o)}
	case *L:
		list := items(o)
		rows = make([]metav1.TableRow, 0, len(list))
		for i := range list {
			rows = append(rows, row(&list[i]))
		}
	default:
		return nil, fmt.Errorf("%s table: unexpected object type %T", strings.ToLower(gvk.Kind), obj)
	}
	return BuildTable(obj, columns, rows, opts, gvk)
}
