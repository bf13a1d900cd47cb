package rbac

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestStrategy_Validate_UpstreamMessages(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "r", Namespace: "ns"}
	crMeta := metav1.ObjectMeta{Name: "r"}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}
	tests := map[string]struct {
		strategy strategy
		obj      runtime.Object
		want     string
	}{
		"valid role": {RoleStrategy, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, ""},
		"rule without verbs": {RoleStrategy, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}},
			"rules[0].verbs: Required value: verbs must contain at least one value"},
		"rule without groups and resources": {RoleStrategy, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}}}},
			"[rules[0].apiGroups: Required value: resource rules must supply at least one api group, rules[0].resources: Required value: resource rules must supply at least one resource]"},
		"namespaced url rule": {RoleStrategy, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}},
			`rules[0].nonResourceURLs: Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs`},
		"mixed url rule": {ClusterRoleStrategy, &rbacv1.ClusterRole{ObjectMeta: crMeta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}}}},
			`rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources and non-resource URLs`},
		"empty aggregation": {ClusterRoleStrategy, &rbacv1.ClusterRole{ObjectMeta: crMeta, AggregationRule: &rbacv1.AggregationRule{}},
			"aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"},
		"binding bad kind": {RoleBindingStrategy, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "x"}},
			`roleRef.kind: Unsupported value: "Group": supported values: "Role", "ClusterRole"`},
		"cluster binding to role": {ClusterRoleBindingStrategy, &rbacv1.ClusterRoleBinding{ObjectMeta: crMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "x"}},
			`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`},
		"binding without role name": {RoleBindingStrategy, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role"}},
			"roleRef.name: Required value"},
		"user subject without group": {RoleBindingStrategy, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			`subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"`},
		"cluster binding sa without namespace": {ClusterRoleBindingStrategy, &rbacv1.ClusterRoleBinding{ObjectMeta: crMeta, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "sa"}}},
			"subjects[0].namespace: Required value"},
		"unknown subject kind": {RoleBindingStrategy, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: "Robot", Name: "x"}}},
			`subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ""
			if errs := tc.strategy.Validate(context.Background(), tc.obj); len(errs) > 0 {
				got = errs.ToAggregate().Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate_RoleRefImmutable(t *testing.T) {
	old := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns", ResourceVersion: "1"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
	upd := old.DeepCopy()
	upd.RoleRef.Name = "admin"
	errs := RoleBindingStrategy.ValidateUpdate(context.Background(), upd, old)
	want := `roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"admin"}: cannot change roleRef`
	if got := errs.ToAggregate(); got == nil || got.Error() != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestSetRoleBindingDefaults_APIGroups(t *testing.T) {
	b := &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "a"}, {Kind: "Group", Name: "g"}, {Kind: "ServiceAccount", Name: "s"}}}
	SetRoleBindingDefaults(b)
	SetRoleBindingDefaults(b)
	want := &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "a"}, {Kind: "Group", APIGroup: rbacv1.GroupName, Name: "g"}, {Kind: "ServiceAccount", Name: "s"}}}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBootstrapPolicy_ValidAndBound(t *testing.T) {
	roles := map[string]bool{}
	for _, r := range BootstrapClusterRoles() {
		if errs := ClusterRoleStrategy.Validate(context.Background(), &r); len(errs) > 0 {
			t.Errorf("clusterrole %s: %v", r.Name, errs.ToAggregate())
		}
		roles[r.Name] = true
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if errs := ClusterRoleBindingStrategy.Validate(context.Background(), &b); len(errs) > 0 {
			t.Errorf("clusterrolebinding %s: %v", b.Name, errs.ToAggregate())
		}
		if !roles[b.RoleRef.Name] {
			t.Errorf("clusterrolebinding %s refers to missing role %s", b.Name, b.RoleRef.Name)
		}
	}
}

func TestTableConvertor_BindingRow(t *testing.T) {
	b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Name: "ci", Namespace: "ns"}}}
	table, err := RoleBindingTableConvertor.ConvertToTable(context.Background(), b, &metav1.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"b", "ClusterRole/admin", "<unknown>", "alice", "devs", "ns/ci"}
	if diff := cmp.Diff(want, table.Rows[0].Cells); diff != "" || len(table.ColumnDefinitions) != 6 {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
}
