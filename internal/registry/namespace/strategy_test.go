package namespace

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	sort.Strings(out)
	return out
}

func newNS(mutate func(*corev1.Namespace)) *corev1.Namespace {
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1",
			Labels: map[string]string{corev1.LabelMetadataName: "team-a"}},
		Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	if mutate != nil {
		mutate(ns)
	}
	return ns
}

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want *corev1.Namespace
	}{
		"a named namespace gets the name label and phase Active": {
			in: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"a": "b"}}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"a": "b", "kubernetes.io/metadata.name": "x"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		"a generateName namespace gets no label yet": {
			in: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		"a wrong name label is corrected and Terminating is kept": {
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"kubernetes.io/metadata.name": "y"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"kubernetes.io/metadata.name": "x"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			SetDefaults(tc.in)
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("SetDefaults mismatch (-want +got):\n%s", diff)
			}
			again := tc.in.DeepCopy()
			SetDefaults(again)
			if diff := cmp.Diff(tc.in, again); diff != "" {
				t.Errorf("SetDefaults is not idempotent (-first +second):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForCreate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want *corev1.Namespace
	}{
		"status is reset and the kubernetes finalizer added": {
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			want: newNS(func(ns *corev1.Namespace) { ns.ResourceVersion = "" }),
		},
		"other finalizers are kept before kubernetes": {
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/x"}},
			},
			want: newNS(func(ns *corev1.Namespace) {
				ns.ResourceVersion = ""
				ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/x", "kubernetes"}
			}),
		},
		"an existing kubernetes finalizer is not duplicated": {
			in:   newNS(nil),
			want: newNS(nil),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			Strategy.PrepareForCreate(context.Background(), tc.in)
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("PrepareForCreate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ns   *corev1.Namespace
		want []string
	}{
		"a valid namespace passes": {ns: newNS(nil)},
		"a dotted name is not a DNS label": {
			ns:   newNS(func(ns *corev1.Namespace) { ns.Name = "a.b" }),
			want: []string{`metadata.name: Invalid value: "a.b": must not contain dots`},
		},
		"an uppercase name is not a DNS label": {
			ns:   newNS(func(ns *corev1.Namespace) { ns.Name = "Team" }),
			want: []string{`metadata.name: Invalid value: "Team": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		},
		"a namespace inside the object is forbidden": {
			ns:   newNS(func(ns *corev1.Namespace) { ns.Namespace = "default" }),
			want: []string{"metadata.namespace: Forbidden: not allowed on this type"},
		},
		"a non-standard unqualified spec finalizer is rejected": {
			ns: newNS(func(ns *corev1.Namespace) {
				ns.Spec.Finalizers = []corev1.FinalizerName{"kubernetes", "mine"}
			}),
			want: []string{`spec.finalizers: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.ns))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForUpdate_KeepsFinalizersAndStatus(t *testing.T) {
	t.Parallel()
	old := newNS(nil)
	ns := newNS(func(ns *corev1.Namespace) {
		ns.Spec.Finalizers = nil
		ns.Status.Phase = corev1.NamespaceTerminating
		ns.Labels = map[string]string{"team": "a"}
	})
	Strategy.PrepareForUpdate(context.Background(), ns, old)
	want := newNS(func(ns *corev1.Namespace) { ns.Labels["team"] = "a" })
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("PrepareForUpdate mismatch (-want +got):\n%s", diff)
	}
	if errs := Strategy.ValidateUpdate(context.Background(), ns, old); len(errs) != 0 {
		t.Errorf("ValidateUpdate() = %v, want none", errs)
	}
}

func TestStatusStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	deleted := metav1.NewTime(time.Now())
	tests := map[string]struct {
		ns   *corev1.Namespace
		want []string
	}{
		"Active without deletionTimestamp passes": {ns: newNS(nil)},
		"Terminating without deletionTimestamp is rejected": {
			ns:   newNS(func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating }),
			want: []string{"status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"},
		},
		"Active with deletionTimestamp is rejected": {
			ns:   newNS(func(ns *corev1.Namespace) { ns.DeletionTimestamp = &deleted }),
			want: []string{"status.Phase: Invalid value: \"Active\": may only be 'Terminating' if `deletionTimestamp` is not empty"},
		},
		"Terminating with deletionTimestamp passes": {
			ns: newNS(func(ns *corev1.Namespace) {
				ns.DeletionTimestamp = &deleted
				ns.Status.Phase = corev1.NamespaceTerminating
			}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			old := newNS(func(ns *corev1.Namespace) { ns.DeletionTimestamp = tc.ns.DeletionTimestamp })
			got := errStrings(StatusStrategy.ValidateUpdate(context.Background(), tc.ns, old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusStrategy_PrepareForUpdate_KeepsSpec(t *testing.T) {
	t.Parallel()
	ns := newNS(func(ns *corev1.Namespace) {
		ns.Spec.Finalizers = nil
		ns.Status.Phase = corev1.NamespaceTerminating
	})
	StatusStrategy.PrepareForUpdate(context.Background(), ns, newNS(nil))
	want := newNS(func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating })
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("PrepareForUpdate mismatch (-want +got):\n%s", diff)
	}
}

func TestFinalizeStrategy(t *testing.T) {
	t.Parallel()
	old := newNS(nil)
	ns := newNS(func(ns *corev1.Namespace) {
		ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/x", "bad"}
		ns.Status.Phase = corev1.NamespaceTerminating
	})
	FinalizeStrategy.PrepareForUpdate(context.Background(), ns, old)
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("status phase = %q, want the stored Active", ns.Status.Phase)
	}
	got := errStrings(FinalizeStrategy.ValidateUpdate(context.Background(), ns, old))
	want := []string{`spec.finalizers[1]: Invalid value: "bad": name is neither a standard finalizer name nor is it fully qualified`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
	}
}

func TestIsTerminating(t *testing.T) {
	t.Parallel()
	now := metav1.Now()
	tests := map[string]struct {
		ns   *corev1.Namespace
		want bool
	}{
		"active":             {ns: newNS(nil), want: false},
		"terminating phase":  {ns: newNS(func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating }), want: true},
		"deletion timestamp": {ns: newNS(func(ns *corev1.Namespace) { ns.DeletionTimestamp = &now }), want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := IsTerminating(tc.ns); got != tc.want {
				t.Errorf("IsTerminating() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	l, f, err := GetAttrs(newNS(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(labels.Set{"kubernetes.io/metadata.name": "team-a"}, l); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
	want := fields.Set{"metadata.name": "team-a", "status.phase": "Active", "name": "team-a"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{false, false, true}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
}

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	a := newNS(func(ns *corev1.Namespace) { ns.CreationTimestamp = metav1.NewTime(time.Now().Add(-10 * time.Minute)) })
	b := newNS(func(ns *corev1.Namespace) { ns.Name = "b"; ns.Status.Phase = corev1.NamespaceTerminating })
	table, err := TableConvertor.ConvertToTable(context.Background(), &corev1.NamespaceList{Items: []corev1.Namespace{*a, *b}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Status", "Age"}, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	var cells [][]any
	for _, r := range table.Rows {
		cells = append(cells, r.Cells)
	}
	want := [][]any{{"team-a", "Active", "10m"}, {"b", "Terminating", "<unknown>"}}
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
}
