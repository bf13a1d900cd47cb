package namespace

import (
	"context"
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
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("Namespace"),
		func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items }, row)
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
