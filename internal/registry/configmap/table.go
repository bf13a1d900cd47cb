package configmap

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders ConfigMaps as upstream's printConfigMap does.
type tableConvertor struct{}

// TableConvertor renders ConfigMaps and ConfigMapLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(cm *corev1.ConfigMap) metav1.TableRow {
	return metav1.TableRow{
		Cells:  []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)},
		Object: runtime.RawExtension{Object: cm},
	}
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items }, row)
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
