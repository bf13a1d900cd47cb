package secret

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	s := newSecret(func(s *corev1.Secret) { s.CreationTimestamp = metav1.NewTime(time.Now().Add(-30 * time.Second)) })
	list := &corev1.SecretList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []corev1.Secret{*s}}
	table, err := TableConvertor.ConvertToTable(context.Background(), list, &metav1.TableOptions{IncludeObject: metav1.IncludeObject})
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Type", "Data", "Age"}, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"pw", "Opaque", int64(1), "30s"}, table.Rows[0].Cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
	if table.ResourceVersion != "7" {
		t.Errorf("resourceVersion = %q, want 7", table.ResourceVersion)
	}
	got, ok := table.Rows[0].Object.Object.(*corev1.Secret)
	if !ok || got.Kind != "Secret" || got.APIVersion != "v1" {
		t.Errorf("row object = %#v, want a v1 Secret with its kind set", table.Rows[0].Object.Object)
	}
}
