package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders Namespaces as upstream's printNamespace does.
type tableConvertor struct{}

// TableConvertor renders Namespaces and NamespaceLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Status", Type: "string", Description: "The status of the namespace"},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(ns *corev1.Namespace) metav1.TableRow {
	return metav1.TableRow{
		Cells:  []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)},
		Object: runtime.RawExtension{Object: ns},
	}
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	var rows []metav1.TableRow
	switch o := obj.(type) {
	case *corev1.Namespace:
		rows = []metav1.TableRow{row(o)}
	case *corev1.NamespaceList:
		rows = make([]metav1.TableRow, 0, len(o.Items))
		for i := range o.Items {
			rows = append(rows, row(&o.Items[i]))
		}
	default:
		return nil, fmt.Errorf("namespace table: unexpected object type %T", obj)
	}
	return buildTable(obj, rows, opts)
}

// buildTable adds the headers and list metadata to rows and applies
// opts.IncludeObject as kube-apiserver does (default Metadata).
func buildTable(obj runtime.Object, rows []metav1.TableRow, opts *metav1.TableOptions) (*metav1.Table, error) {
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
		switch include {
		case metav1.IncludeObject:
			full := item.Object.DeepCopyObject()
			full.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
			item.Object = full
		case metav1.IncludeMetadata:
			m, err := meta.Accessor(item.Object)
			if err != nil {
				return nil, fmt.Errorf("namespace table: reading metadata: %w", err)
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

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}
