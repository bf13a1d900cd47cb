package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

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

// buildTable adds headers, list metadata and the row objects.
func buildTable(obj runtime.Object, rows []metav1.TableRow, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.BuildTable(obj, columns, rows, opts, corev1.SchemeGroupVersion.WithKind("Namespace"))
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
