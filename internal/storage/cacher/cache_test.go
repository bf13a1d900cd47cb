package cacher

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
)

// newTestCache returns a ConfigMap cache fed by hand (no etcd): replace and
// apply are what the hub calls.
func newTestCache(t *testing.T) *Cache {
	t.Helper()
	h := NewHub(HubConfig{HistorySize: 16})
	decode := func(value []byte, rev int64) (runtime.Object, error) {
		cm := &corev1.ConfigMap{}
		if err := json.Unmarshal(value, cm); err != nil {
			return nil, err
		}
		return cm, setResourceVersion(cm, rev)
	}
	attrs := func(obj runtime.Object) (labels.Set, fields.Set, error) {
		cm := obj.(*corev1.ConfigMap)
		return cm.Labels, fields.Set{"metadata.name": cm.Name}, nil
	}
	return h.Register("/configmaps/", decode, attrs)
}

func configMapKV(t *testing.T, ns, name string, rev int64, lbls map[string]string) storage.KeyValue {
	t.Helper()
	raw, err := json.Marshal(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}})
	if err != nil {
		t.Fatal(err)
	}
	return storage.KeyValue{Key: "/configmaps/" + ns + "/" + name, Value: raw, Revision: rev}
}

func listNames(t *testing.T, c *Cache, p Predicate) []string {
	t.Helper()
	objs, _, err := c.List(context.Background(), p, 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if objs == nil {
		t.Fatal("List returned nil, want an empty slice")
	}
	names := []string{}
	for _, o := range objs {
		cm := o.(*corev1.ConfigMap)
		names = append(names, cm.Namespace+"/"+cm.Name)
	}
	return names
}

func TestCache_List_PrefixesSelectorsAndChanges(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.hub.mu.Lock()
	c.replace([]storage.KeyValue{
		configMapKV(t, "b", "x", 2, map[string]string{"app": "web"}),
		configMapKV(t, "a", "y", 3, nil),
		configMapKV(t, "ab", "z", 4, map[string]string{"app": "web"}),
		configMapKV(t, "a", "w", 5, map[string]string{"app": "db"}),
	}, 5)
	c.hub.mu.Unlock()

	web := labels.SelectorFromSet(labels.Set{"app": "web"})
	tests := map[string]struct {
		pred Predicate
		want []string
	}{
		"everything, in key order":         {Predicate{}, []string{"a/w", "a/y", "ab/z", "b/x"}},
		"one namespace, not its neighbour": {Predicate{Prefix: "/configmaps/a/"}, []string{"a/w", "a/y"}},
		"the neighbour":                    {Predicate{Prefix: "/configmaps/ab/"}, []string{"ab/z"}},
		"a namespace with nothing":         {Predicate{Prefix: "/configmaps/c/"}, []string{}},
		"a namespace before every key":     {Predicate{Prefix: "/configmaps/0/"}, []string{}},
		"label selector across namespaces": {Predicate{Label: web}, []string{"ab/z", "b/x"}},
		"label selector in one namespace":  {Predicate{Prefix: "/configmaps/a/", Label: web}, []string{}},
		"field selector":                   {Predicate{Field: fields.OneTermEqualSelector("metadata.name", "y")}, []string{"a/y"}},
	}
	for name, tc := range tests {
		if diff := cmp.Diff(tc.want, listNames(t, c, tc.pred)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	// Changes reach the next list: the sorted snapshot is rebuilt. Each
	// change moves the generation; a delete of something never seen does not.
	gen := c.Generation()
	c.hub.mu.Lock()
	put := configMapKV(t, "a", "v", 6, nil)
	c.apply(storage.Event{Type: storage.EventPut, Key: put.Key, Value: put.Value, Revision: put.Revision, Create: true})
	c.apply(storage.Event{Type: storage.EventDelete, Key: "/configmaps/a/y", Revision: 7})
	c.apply(storage.Event{Type: storage.EventDelete, Key: "/configmaps/a/never", Revision: 7})
	c.hub.rev = 7
	c.hub.mu.Unlock()
	if got := c.Generation(); got != gen+2 {
		t.Errorf("generation after two changes = %d, want %d", got, gen+2)
	}
	if diff := cmp.Diff([]string{"a/v", "a/w", "ab/z", "b/x"}, listNames(t, c, Predicate{})); diff != "" {
		t.Errorf("after a put and a delete (-want +got):\n%s", diff)
	}
}
