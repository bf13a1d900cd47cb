package lease

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders Leases as upstream's printLease does.
type tableConvertor struct{}

// TableConvertor renders Leases and LeaseLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(l *coordinationv1.Lease) metav1.TableRow {
	var holder string
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return metav1.TableRow{
		Cells:  []any{l.Name, holder, age(l.CreationTimestamp)},
		Object: runtime.RawExtension{Object: l},
	}
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, coordinationv1.SchemeGroupVersion.WithKind("Lease"),
		func(l *coordinationv1.LeaseList) []coordinationv1.Lease { return l.Items }, row)
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
