package lease

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	sort.Strings(out)
	return out
}

func newLease(mutate func(*coordinationv1.Lease)) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", ResourceVersion: "1"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("node-1"),
			LeaseDurationSeconds: ptr.To[int32](40),
		},
	}
	if mutate != nil {
		mutate(l)
	}
	return l
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		l    *coordinationv1.Lease
		want []string
	}{
		"a valid lease passes": {l: newLease(nil)},
		"a zero duration is rejected": {
			l:    newLease(func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) }),
			want: []string{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"},
		},
		"negative transitions are rejected": {
			l:    newLease(func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) }),
			want: []string{"spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"},
		},
		"an unknown built-in strategy is rejected": {
			l: newLease(func(l *coordinationv1.Lease) {
				l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("Newest"))
			}),
			want: []string{`spec.strategy.strategy: Unsupported value: "Newest": supported values: "OldestEmulationVersion"`},
		},
		"a qualified custom strategy passes": {
			l: newLease(func(l *coordinationv1.Lease) {
				l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("example.com/mine"))
			}),
		},
		"a preferred holder without a strategy is forbidden": {
			l:    newLease(func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr.To("node-2") }),
			want: []string{"spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"},
		},
		"a name that is not a subdomain is rejected": {
			l:    newLease(func(l *coordinationv1.Lease) { l.Name = "Node_1" }),
			want: []string{`metadata.name: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.l))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	got := errStrings(Strategy.ValidateUpdate(context.Background(),
		newLease(func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](-5) }), newLease(nil)))
	want := []string{"spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_PrepareForCreate_DropsCoordinatedFields(t *testing.T) {
	t.Parallel()
	l := newLease(func(l *coordinationv1.Lease) {
		l.Spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
		l.Spec.PreferredHolder = ptr.To("node-2")
	})
	Strategy.PrepareForCreate(context.Background(), l)
	if diff := cmp.Diff(newLease(nil), l); diff != "" {
		t.Errorf("PrepareForCreate mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_PrepareForUpdate(t *testing.T) {
	t.Parallel()
	withFields := func(l *coordinationv1.Lease) {
		l.Spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
		l.Spec.PreferredHolder = ptr.To("node-2")
	}
	tests := map[string]struct {
		old, l, want *coordinationv1.Lease
	}{
		"new coordinated fields are dropped": {
			old: newLease(nil), l: newLease(withFields), want: newLease(nil),
		},
		"coordinated fields already in use are kept": {
			old: newLease(withFields), l: newLease(withFields), want: newLease(withFields),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			Strategy.PrepareForUpdate(context.Background(), tc.l, tc.old)
			if diff := cmp.Diff(tc.want, tc.l); diff != "" {
				t.Errorf("PrepareForUpdate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{true, true, false}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	_, f, err := GetAttrs(newLease(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields.Set{"metadata.name": "node-1", "metadata.namespace": "kube-node-lease"}, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
}

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	held := newLease(func(l *coordinationv1.Lease) { l.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second)) })
	free := newLease(func(l *coordinationv1.Lease) { l.Name = "free"; l.Spec.HolderIdentity = nil })
	list := &coordinationv1.LeaseList{Items: []coordinationv1.Lease{*held, *free}}
	table, err := TableConvertor.ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Holder", "Age"}, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	var cells [][]any
	for _, r := range table.Rows {
		cells = append(cells, r.Cells)
	}
	want := [][]any{{"node-1", "node-1", "90s"}, {"free", "", "<unknown>"}}
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
}
