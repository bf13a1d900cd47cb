package configmap

import (
	"context"
	"sort"
	"strings"
	"testing"

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

func newConfigMap(mutate func(*corev1.ConfigMap)) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"},
		Data:       map[string]string{"a": "1"},
	}
	if mutate != nil {
		mutate(cm)
	}
	return cm
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cm   *corev1.ConfigMap
		want []string
	}{
		"a valid configmap passes": {cm: newConfigMap(nil)},
		"a name that is not a DNS subdomain is rejected": {
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.Name = "Bad_Name" }),
			want: []string{`metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		},
		"a missing namespace is rejected": {
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.Namespace = "" }),
			want: []string{"metadata.namespace: Required value"},
		},
		"an invalid data key is rejected": {
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.Data = map[string]string{"a b": "x"} }),
			want: []string{`data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`},
		},
		"a dot-dot binaryData key is rejected": {
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"..": nil} }),
			want: []string{`binaryData[..]: Invalid value: "..": must not be '..'`},
		},
		"a key in both data and binaryData is rejected": {
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"a": []byte("1")} }),
			want: []string{`data[a]: Invalid value: "a": duplicate of key present in binaryData`},
		},
		"data and binaryData over 1 MiB together are rejected": {
			cm: newConfigMap(func(c *corev1.ConfigMap) {
				c.Data = map[string]string{"a": strings.Repeat("x", MaxSize/2)}
				c.BinaryData = map[string][]byte{"b": make([]byte, MaxSize/2+1)}
			}),
			want: []string{"[]: Too long: may not be more than 1048576 bytes"},
		},
		"exactly 1 MiB is accepted": {
			cm: newConfigMap(func(c *corev1.ConfigMap) { c.Data = map[string]string{"a": strings.Repeat("x", MaxSize)} }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.cm))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	immutable := true
	mutable := false
	tests := map[string]struct {
		old, cm *corev1.ConfigMap
		want    []string
	}{
		"changing data of a mutable configmap is allowed": {
			old: newConfigMap(nil),
			cm:  newConfigMap(func(c *corev1.ConfigMap) { c.Data["a"] = "2" }),
		},
		"changing data of an immutable configmap is forbidden": {
			old: newConfigMap(func(c *corev1.ConfigMap) { c.Immutable = &immutable }),
			cm: newConfigMap(func(c *corev1.ConfigMap) {
				c.Immutable = &immutable
				c.Data["a"] = "2"
				c.BinaryData = map[string][]byte{"b": nil}
			}),
			want: []string{
				"binaryData: Forbidden: field is immutable when `immutable` is set",
				"data: Forbidden: field is immutable when `immutable` is set",
			},
		},
		"unsetting immutable is forbidden": {
			old:  newConfigMap(func(c *corev1.ConfigMap) { c.Immutable = &immutable }),
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.Immutable = &mutable }),
			want: []string{"immutable: Forbidden: field is immutable when `immutable` is set"},
		},
		"renaming is rejected": {
			old:  newConfigMap(nil),
			cm:   newConfigMap(func(c *corev1.ConfigMap) { c.Name = "other" }),
			want: []string{`metadata.name: Invalid value: "other": field is immutable`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.ValidateUpdate(context.Background(), tc.cm, tc.old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_Validate_WrongType(t *testing.T) {
	t.Parallel()
	errs := Strategy.Validate(context.Background(), &corev1.Secret{})
	if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Fatalf("Validate(Secret) = %v, want one internal error", errs)
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	cm := newConfigMap(func(c *corev1.ConfigMap) { c.Labels = map[string]string{"app": "x"} })
	l, f, err := GetAttrs(cm)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(labels.Set{"app": "x"}, l); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fields.Set{"metadata.name": "cfg", "metadata.namespace": "default"}, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&corev1.Secret{}); err == nil {
		t.Error("GetAttrs(Secret) returned no error")
	}
}
