// Package replicas serves ReplicationControllers (v1) and ReplicaSets
// (apps/v1) read-only. Skiff runs no replication controller, so it accepts
// none of these objects; it serves them because clients list them, notably
// upstream's e2e framework, which lists both in kube-system before any spec
// and stops the whole run if it cannot.
package replicas

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// Verbs are the verbs served: reads only.
var Verbs = []string{"get", "list", "watch"}

// readOnlyStrategy refuses every write. The routes serve no write verb, so
// it only guards the store against a caller that bypasses them.
type readOnlyStrategy struct{ kind string }

// ReplicationControllerStrategy and ReplicaSetStrategy are the (refusing)
// strategies of the two stores.
var (
	ReplicationControllerStrategy generic.Strategy = readOnlyStrategy{kind: "ReplicationController"}
	ReplicaSetStrategy            generic.Strategy = readOnlyStrategy{kind: "ReplicaSet"}
)

func (readOnlyStrategy) NamespaceScoped() bool                            { return true }
func (readOnlyStrategy) PrepareForCreate(context.Context, runtime.Object) {}
func (s readOnlyStrategy) Validate(context.Context, runtime.Object) field.ErrorList {
	return s.refuse()
}
func (readOnlyStrategy) WarningsOnCreate(context.Context, runtime.Object) []string        { return nil }
func (readOnlyStrategy) AllowCreateOnUpdate() bool                                        { return false }
func (readOnlyStrategy) AllowUnconditionalUpdate() bool                                   { return false }
func (readOnlyStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (s readOnlyStrategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return s.refuse()
}
func (readOnlyStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (s readOnlyStrategy) refuse() field.ErrorList {
	return field.ErrorList{field.Forbidden(field.NewPath("spec"), fmt.Sprintf("Skiff serves %ss read-only: it runs no controller for them", s.kind))}
}

// Upstream's printers' columns (printReplicationController, printReplicaSet).
var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Desired", Type: "integer", Description: "Number of desired replicas."},
	{Name: "Current", Type: "integer", Description: "Number of current replicas."},
	{Name: "Ready", Type: "integer", Description: "Number of ready replicas."},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(obj runtime.Object, name string, created metav1.Time, desired *int32, current, ready int32) metav1.TableRow {
	d := int32(1)
	if desired != nil {
		d = *desired
	}
	return metav1.TableRow{Object: runtime.RawExtension{Object: obj},
		Cells: []any{name, int64(d), int64(current), int64(ready), generic.HumanAge(created, time.Now())}}
}

type rcTable struct{}
type rsTable struct{}

// ReplicationControllerTable and ReplicaSetTable render the two kinds.
var (
	ReplicationControllerTable generic.TableConvertor = rcTable{}
	ReplicaSetTable            generic.TableConvertor = rsTable{}
)

func (rcTable) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("ReplicationController"),
		func(l *corev1.ReplicationControllerList) []corev1.ReplicationController { return l.Items },
		func(rc *corev1.ReplicationController) metav1.TableRow {
			return row(rc, rc.Name, rc.CreationTimestamp, rc.Spec.Replicas, rc.Status.Replicas, rc.Status.ReadyReplicas)
		})
}

func (rsTable) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
		func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items },
		func(rs *appsv1.ReplicaSet) metav1.TableRow {
			return row(rs, rs.Name, rs.CreationTimestamp, rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas)
		})
}
