package event

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	sort.Strings(out)
	return out
}

func newEvent(mutate func(*corev1.Event)) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "pi.17a", Namespace: "default", ResourceVersion: "1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "pi", UID: "u1", APIVersion: "v1", FieldPath: "spec.containers{pi}"},
		Reason:         "Started",
		Message:        "Started container pi",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		Type:           corev1.EventTypeNormal,
		Count:          1,
	}
	if mutate != nil {
		mutate(ev)
	}
	return ev
}

func newStyle(ev *corev1.Event) {
	ev.EventTime = metav1.NewMicroTime(time.Now())
	ev.ReportingController = "skiff.dev/job-controller"
	ev.ReportingInstance = "skiff-1"
	ev.Action = "Create"
	ev.Source = corev1.EventSource{}
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ev   *corev1.Event
		want []string
	}{
		"a legacy event passes":    {ev: newEvent(nil)},
		"a new-style event passes": {ev: newEvent(newStyle)},
		"any type is accepted on core/v1": {
			ev: newEvent(func(ev *corev1.Event) { ev.Type = "Odd" }),
		},
		"a namespace mismatch is rejected": {
			ev:   newEvent(func(ev *corev1.Event) { ev.InvolvedObject.Namespace = "other" }),
			want: []string{`involvedObject.namespace: Invalid value: "other": does not match event.namespace`},
		},
		"a cluster-scoped object's event may live in default": {
			ev: newEvent(func(ev *corev1.Event) { ev.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }),
		},
		"a cluster-scoped object's event may not live elsewhere": {
			ev: newEvent(func(ev *corev1.Event) {
				ev.Namespace = "team-a"
				ev.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			}),
			want: []string{`involvedObject.namespace: Invalid value: "": does not match event.namespace`},
		},
		"a new-style event needs its reporting fields": {
			ev: newEvent(func(ev *corev1.Event) {
				newStyle(ev)
				ev.ReportingController, ev.ReportingInstance, ev.Action, ev.Reason = "", "", "", ""
			}),
			want: []string{
				"action: Required value",
				"reason: Required value",
				`reportingController: Invalid value: "": name part must be non-empty`,
				`reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				"reportingController: Required value",
				"reportingInstance: Required value",
			},
		},
		"a new-style event has length limits": {
			ev: newEvent(func(ev *corev1.Event) {
				newStyle(ev)
				ev.Reason = strings.Repeat("r", 129)
				ev.Message = strings.Repeat("m", 1025)
			}),
			want: []string{
				`message: Invalid value: "": can have at most 1024 characters`,
				`reason: Invalid value: "": can have at most 128 characters`,
			},
		},
		"a name with a slash is rejected after the event rules pass": {
			ev:   newEvent(func(ev *corev1.Event) { ev.Name = "a/b" }),
			want: []string{`metadata.name: Invalid value: "a/b": may not contain '/'`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.ev))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ev   *corev1.Event
		want []string
	}{
		"a count bump passes": {ev: newEvent(func(ev *corev1.Event) { ev.Count = 2 })},
		"renaming is rejected": {
			ev:   newEvent(func(ev *corev1.Event) { ev.Name = "other" }),
			want: []string{`metadata.name: Invalid value: "other": field is immutable`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.ValidateUpdate(context.Background(), tc.ev, newEvent(nil)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{true, true, true}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
	if p := Strategy.DefaultGarbageCollectionPolicy(context.Background()); p != generic.Unsupported {
		t.Errorf("DefaultGarbageCollectionPolicy() = %q, want Unsupported", p)
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ev         *corev1.Event
		wantSource string
	}{
		"source is the source component":                {ev: newEvent(nil), wantSource: "kubelet"},
		"source falls back to the reporting controller": {ev: newEvent(newStyle), wantSource: "skiff.dev/job-controller"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, f, err := GetAttrs(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			want := fields.Set{
				"metadata.name": "pi.17a", "metadata.namespace": "default",
				"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "pi",
				"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "",
				"involvedObject.fieldPath": "spec.containers{pi}", "reason": "Started",
				"reportingComponent": tc.ev.ReportingController, "source": tc.wantSource, "type": "Normal",
			}
			if diff := cmp.Diff(want, f); diff != "" {
				t.Errorf("fields mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	legacy := newEvent(func(ev *corev1.Event) {
		ev.FirstTimestamp = metav1.NewTime(time.Now().Add(-10 * time.Minute))
		ev.LastTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Minute))
		ev.Count = 3
		ev.Message = " Started container pi \n"
	})
	series := newEvent(func(ev *corev1.Event) {
		newStyle(ev)
		ev.Count = 0
		ev.EventTime = metav1.NewMicroTime(time.Now().Add(-time.Hour))
		ev.Series = &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(time.Now().Add(-20 * time.Second))}
		ev.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
	})
	table, err := TableConvertor.ConvertToTable(context.Background(), &corev1.EventList{Items: []corev1.Event{*legacy, *series}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	wantHeaders := []string{"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"}
	if diff := cmp.Diff(wantHeaders, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	var cells [][]any
	for _, r := range table.Rows {
		cells = append(cells, r.Cells)
	}
	want := [][]any{
		{"5m", "Normal", "Started", "pod/pi", "spec.containers{pi}", "kubelet, node-1", "Started container pi", "10m", int64(3), "pi.17a"},
		{"20s", "Normal", "Started", "node", "", "skiff.dev/job-controller, skiff-1", "Started container pi", "60m", int64(4), "pi.17a"},
	}
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
}
