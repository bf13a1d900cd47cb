package event

import (
	"cmp"
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders Events as upstream's printEvent does.
type tableConvertor struct{}

// TableConvertor renders Events and EventLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
	{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
	{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
	{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
	{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
	{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
	{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
	{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
	{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
	{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
}

// row is upstream printEvent with the wide columns, which the server always
// sends (kubectl hides priority-1 columns unless -o wide).
func row(ev *corev1.Event) metav1.TableRow {
	firstSeen := age(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		firstSeen = microAge(ev.EventTime)
	}
	lastSeen := age(ev.LastTimestamp)
	if ev.LastTimestamp.IsZero() {
		lastSeen = firstSeen
	}
	count := ev.Count
	if ev.Series != nil {
		lastSeen = microAge(ev.Series.LastObservedTime)
		count = ev.Series.Count
	} else if count == 0 {
		// Singleton events of the new API carry no count.
		count = 1
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target += "/" + ev.InvolvedObject.Name
	}
	return metav1.TableRow{
		Cells: []any{
			lastSeen, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath,
			eventSource(ev), strings.TrimSpace(ev.Message), firstSeen, int64(count), ev.Name,
		},
		Object: runtime.RawExtension{Object: ev},
	}
}

// eventSource is upstream formatEventSource: "component, host", falling
// back to the reporting controller and instance.
func eventSource(ev *corev1.Event) string {
	component := cmp.Or(ev.Source.Component, ev.ReportingController)
	host := cmp.Or(ev.Source.Host, ev.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("Event"),
		func(l *corev1.EventList) []corev1.Event { return l.Items }, row)
}

// age renders a timestamp like upstream translateTimestampSince.
func age(t metav1.Time) string { return generic.HumanAge(t, time.Now()) }
