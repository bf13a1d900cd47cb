package server_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// Pages of a namespaced list continue where the previous page ended, at the
// first page's resourceVersion, whether the first page came from the watch
// cache and later ones from etcd.
func TestList_Namespaced_PaginatesAllItems(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	ctx := context.Background()
	cms := ts.Client.CoreV1().ConfigMaps("default")
	for i := range 25 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Labels: map[string]string{"even": fmt.Sprint(i%2 == 0)}}}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		selector string
		want     int
	}{
		"all":            {"", 25},
		"label selector": {"even=true", 13},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			opts := metav1.ListOptions{Limit: 10, LabelSelector: tc.selector}
			rv := ""
			for page := 0; ; page++ {
				list, err := cms.List(ctx, opts)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if rv == "" {
					rv = list.ResourceVersion
				} else if list.ResourceVersion != rv {
					t.Errorf("page %d at resourceVersion %s, first page at %s", page, list.ResourceVersion, rv)
				}
				for _, item := range list.Items {
					got = append(got, item.Name)
				}
				if list.Continue == "" {
					break
				}
				opts.Continue = list.Continue
			}
			if len(got) != tc.want {
				t.Fatalf("got %d items over all pages, want %d: %v", len(got), tc.want, got)
			}
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("items out of order or repeated: %v", got)
				}
			}
		})
	}
}
