package serviceaccount

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders ServiceAccounts as upstream's printServiceAccount does.
type tableConvertor struct{}

// TableConvertor renders ServiceAccounts and ServiceAccountLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(sa *corev1.ServiceAccount) metav1.TableRow {
	return metav1.TableRow{
		Cells:  []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)},
		Object: runtime.RawExtension{Object: sa},
	}
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		func(l *corev1.ServiceAccountList) []corev1.ServiceAccount { return l.Items }, row)
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
