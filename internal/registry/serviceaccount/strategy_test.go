package serviceaccount

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
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

func newSA(mutate func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a", ResourceVersion: "1"}}
	if mutate != nil {
		mutate(sa)
	}
	return sa
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		sa   *corev1.ServiceAccount
		want []string
	}{
		"a valid service account passes": {sa: newSA(nil)},
		"a dotted name is a valid subdomain": {
			sa: newSA(func(s *corev1.ServiceAccount) { s.Name = "ci.builder" }),
		},
		"an uppercase name is rejected": {
			sa:   newSA(func(s *corev1.ServiceAccount) { s.Name = "Builder" }),
			want: []string{`metadata.name: Invalid value: "Builder": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		},
		"an unqualified non-standard finalizer is rejected": {
			sa:   newSA(func(s *corev1.ServiceAccount) { s.Finalizers = []string{"custom"} }),
			want: []string{`metadata.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.sa))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	got := errStrings(Strategy.ValidateUpdate(context.Background(),
		newSA(func(s *corev1.ServiceAccount) { s.Namespace = "other" }), newSA(nil)))
	want := []string{`metadata.namespace: Invalid value: "other": field is immutable`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_PrepareForCreate_CleansSecretReferences(t *testing.T) {
	t.Parallel()
	sa := newSA(func(s *corev1.ServiceAccount) {
		s.Secrets = []corev1.ObjectReference{{Kind: "Secret", Namespace: "team-a", Name: "tok", UID: "u1"}}
	})
	Strategy.PrepareForCreate(context.Background(), sa)
	if diff := cmp.Diff([]corev1.ObjectReference{{Name: "tok"}}, sa.Secrets); diff != "" {
		t.Errorf("secrets mismatch (-want +got):\n%s", diff)
	}
	upd := newSA(func(s *corev1.ServiceAccount) { s.Secrets = []corev1.ObjectReference{{Kind: "Secret", Name: "b"}} })
	Strategy.PrepareForUpdate(context.Background(), upd, sa)
	if diff := cmp.Diff([]corev1.ObjectReference{{Name: "b"}}, upd.Secrets); diff != "" {
		t.Errorf("secrets after update mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_Warnings(t *testing.T) {
	t.Parallel()
	annotated := newSA(func(s *corev1.ServiceAccount) {
		s.Annotations = map[string]string{EnforceMountableSecretsAnnotation: "true"}
	})
	want := []string{"metadata.annotations[kubernetes.io/enforce-mountable-secrets]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets"}
	tests := map[string]struct {
		got  []string
		want []string
	}{
		"creating with the annotation warns":       {got: Strategy.WarningsOnCreate(context.Background(), annotated), want: want},
		"adding the annotation warns":              {got: Strategy.WarningsOnUpdate(context.Background(), annotated, newSA(nil)), want: want},
		"keeping the annotation does not warn":     {got: Strategy.WarningsOnUpdate(context.Background(), annotated, annotated)},
		"creating without the annotation is quiet": {got: Strategy.WarningsOnCreate(context.Background(), newSA(nil))},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("warnings mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	_, f, err := GetAttrs(newSA(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields.Set{"metadata.name": "default", "metadata.namespace": "team-a"}, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&corev1.Secret{}); err == nil {
		t.Error("GetAttrs(Secret) returned no error")
	}
}

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	sa := newSA(func(s *corev1.ServiceAccount) {
		s.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * 24 * time.Hour))
		s.Secrets = []corev1.ObjectReference{{Name: "a"}, {Name: "b"}}
	})
	table, err := TableConvertor.ConvertToTable(context.Background(), sa, &metav1.TableOptions{IncludeObject: metav1.IncludeNone})
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Secrets", "Age"}, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"default", int64(2), "3d"}, table.Rows[0].Cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
	if table.Rows[0].Object.Object != nil {
		t.Error("IncludeNone left an object in the row")
	}
}
