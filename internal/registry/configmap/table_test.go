package configmap

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	created := metav1.NewTime(time.Now().Add(-5 * time.Hour))
	cm := newConfigMap(func(c *corev1.ConfigMap) {
		c.CreationTimestamp = created
		c.BinaryData = map[string][]byte{"b": nil}
	})
	list := &corev1.ConfigMapList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next"},
		Items:    []corev1.ConfigMap{*cm, *newConfigMap(func(c *corev1.ConfigMap) { c.Name = "young" })},
	}
	tests := map[string]struct {
		obj         runtime.Object
		opts        *metav1.TableOptions
		wantCells   [][]any
		wantHeaders []string
		wantRV      string
		wantCont    string
	}{
		"a single configmap counts data and binaryData": {
			obj:         cm,
			opts:        &metav1.TableOptions{},
			wantCells:   [][]any{{"cfg", int64(2), "5h"}},
			wantHeaders: []string{"Name", "Data", "Age"},
			wantRV:      "1",
		},
		"a list has one row per item and keeps list metadata": {
			obj:       list,
			opts:      &metav1.TableOptions{NoHeaders: true},
			wantCells: [][]any{{"cfg", int64(2), "5h"}, {"young", int64(1), "<unknown>"}},
			wantRV:    "42",
			wantCont:  "next",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			table, err := TableConvertor.ConvertToTable(context.Background(), tc.obj, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var cells [][]any
			for _, r := range table.Rows {
				cells = append(cells, r.Cells)
			}
			var headers []string
			for _, c := range table.ColumnDefinitions {
				headers = append(headers, c.Name)
			}
			if diff := cmp.Diff(tc.wantCells, cells); diff != "" {
				t.Errorf("cells mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHeaders, headers); diff != "" {
				t.Errorf("headers mismatch (-want +got):\n%s", diff)
			}
			if table.ResourceVersion != tc.wantRV || table.Continue != tc.wantCont {
				t.Errorf("list meta = %q/%q, want %q/%q", table.ResourceVersion, table.Continue, tc.wantRV, tc.wantCont)
			}
		})
	}
}

func TestTableConvertor_ConvertToTable_IncludeObject(t *testing.T) {
	t.Parallel()
	cm := newConfigMap(nil)
	tests := map[string]struct {
		include  metav1.IncludeObjectPolicy
		wantKind string
		wantNil  bool
		wantErr  bool
	}{
		"default is metadata":       {include: "", wantKind: "PartialObjectMetadata"},
		"metadata":                  {include: metav1.IncludeMetadata, wantKind: "PartialObjectMetadata"},
		"object":                    {include: metav1.IncludeObject, wantKind: "ConfigMap"},
		"none":                      {include: metav1.IncludeNone, wantNil: true},
		"an unknown value is a 400": {include: "Bogus", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			table, err := TableConvertor.ConvertToTable(context.Background(), cm, &metav1.TableOptions{IncludeObject: tc.include})
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error, got nil")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := table.Rows[0].Object.Object
			if tc.wantNil {
				if got != nil {
					t.Fatalf("row object = %T, want nil", got)
				}
				return
			}
			if kind := got.GetObjectKind().GroupVersionKind().Kind; kind != tc.wantKind {
				t.Errorf("row object kind = %q, want %q", kind, tc.wantKind)
			}
		})
	}
	if cm.Kind != "" {
		t.Errorf("ConvertToTable mutated the input: kind %q", cm.Kind)
	}
}

func TestTableConvertor_ConvertToTable_WrongType(t *testing.T) {
	t.Parallel()
	if _, err := TableConvertor.ConvertToTable(context.Background(), &corev1.Secret{}, nil); err == nil {
		t.Fatal("want error for a Secret")
	}
}
