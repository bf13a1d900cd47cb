package job

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestGetAttrs_Job(t *testing.T) {
	t.Parallel()
	job := newJob("pi", func(j *batchv1.Job) { j.Labels = map[string]string{"app": "x"} })
	job.Status.Succeeded = 3
	gotLabels, gotFields, err := GetAttrs(job)
	if err != nil {
		t.Fatalf("GetAttrs: %v", err)
	}
	if diff := cmp.Diff(labels.Set{"app": "x"}, gotLabels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	want := fields.Set{"metadata.name": "pi", "metadata.namespace": "default", "status.successful": "3"}
	if diff := cmp.Diff(want, gotFields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&batchv1.JobList{}); err == nil {
		t.Errorf("GetAttrs(JobList) succeeded, want an error")
	}
}

func TestTableConvertor_ConvertToTable_Rows(t *testing.T) {
	t.Parallel()
	now := t0.Add(2 * time.Hour)
	conv := tableConvertor{now: func() time.Time { return now }}
	started := metav1.NewTime(t0.Add(-30 * time.Second))
	deleted := metav1.NewTime(now)
	tests := map[string]struct {
		mutate func(*batchv1.Job)
		want   []any
	}{
		"a new Job is Running with no duration": {
			want: []any{"pi", "Running", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"a running Job measures from startTime": {
			mutate: func(j *batchv1.Job) { j.Status.StartTime = &t0; j.Status.Succeeded = 0 },
			want:   []any{"pi", "Running", "0/1", "120m", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"a complete Job measures start to completion": {
			mutate: func(j *batchv1.Job) {
				j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &started, &t0, 1
				j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
			},
			want: []any{"pi", "Complete", "1/1", "30s", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"parallelism without completions": {
			mutate: func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = nil, int32p(3) },
			want:   []any{"pi", "Running", "0/1 of 3", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"Failed wins over Terminating": {
			mutate: func(j *batchv1.Job) {
				j.DeletionTimestamp = &deleted
				j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}
			},
			want: []any{"pi", "Failed", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"a Job being deleted is Terminating": {
			mutate: func(j *batchv1.Job) { j.DeletionTimestamp = &deleted },
			want:   []any{"pi", "Terminating", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"Suspended": {
			mutate: func(j *batchv1.Job) { j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuspended)} },
			want:   []any{"pi", "Suspended", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"a resumed Job (Suspended=False) is Running": {
			mutate: func(j *batchv1.Job) {
				j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse}}
			},
			want: []any{"pi", "Running", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"FailureTarget": {
			mutate: func(j *batchv1.Job) { j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget)} },
			want:   []any{"pi", "FailureTarget", "0/1", "", "120m", "c", "busybox", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
		"SuccessCriteriaMet": {
			mutate: func(j *batchv1.Job) {
				j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet)}
				j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, corev1.Container{Name: "d", Image: "perl"})
			},
			want: []any{"pi", "SuccessCriteriaMet", "0/1", "", "120m", "c,d", "busybox,perl", "batch.kubernetes.io/controller-uid=" + string(testUID)},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			job := stored(newJob("pi", nil))
			if tc.mutate != nil {
				tc.mutate(job) // after create, which clears status
			}
			table, err := conv.ConvertToTable(context.Background(), job, &metav1.TableOptions{IncludeObject: metav1.IncludeNone})
			if err != nil {
				t.Fatalf("ConvertToTable: %v", err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("rows = %d, want 1", len(table.Rows))
			}
			if diff := cmp.Diff(tc.want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableConvertor_ConvertToTable_ListAndObjects(t *testing.T) {
	t.Parallel()
	conv := tableConvertor{now: func() time.Time { return t0.Add(time.Minute) }}
	a, b := stored(newJob("a", nil)), stored(newJob("b", nil))
	list := &batchv1.JobList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next", RemainingItemCount: ptr.To[int64](7)},
		Items:    []batchv1.Job{*a, *b},
	}
	names := []string{"Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"}
	tests := map[string]struct {
		opts       *metav1.TableOptions
		wantObject func(*batchv1.Job) runtime.Object
		wantCols   []string
	}{
		"default options carry PartialObjectMetadata": {
			wantCols: names,
			wantObject: func(j *batchv1.Job) runtime.Object {
				return &metav1.PartialObjectMetadata{
					TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
					ObjectMeta: j.ObjectMeta,
				}
			},
		},
		"Object carries the Job with its kind": {
			opts:     &metav1.TableOptions{IncludeObject: metav1.IncludeObject},
			wantCols: names,
			wantObject: func(j *batchv1.Job) runtime.Object {
				full := j.DeepCopy()
				full.TypeMeta = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}
				return full
			},
		},
		"None and NoHeaders carry neither": {
			opts:       &metav1.TableOptions{IncludeObject: metav1.IncludeNone, NoHeaders: true},
			wantObject: func(*batchv1.Job) runtime.Object { return nil },
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			table, err := conv.ConvertToTable(context.Background(), list, tc.opts)
			if err != nil {
				t.Fatalf("ConvertToTable: %v", err)
			}
			var gotCols []string
			for _, c := range table.ColumnDefinitions {
				gotCols = append(gotCols, c.Name)
			}
			if diff := cmp.Diff(tc.wantCols, gotCols); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(list.ListMeta, table.ListMeta); diff != "" {
				t.Errorf("list meta (-want +got):\n%s", diff)
			}
			var gotObjects, wantObjects []runtime.Object
			for i, row := range table.Rows {
				gotObjects = append(gotObjects, row.Object.Object)
				wantObjects = append(wantObjects, tc.wantObject(&list.Items[i]))
			}
			if diff := cmp.Diff(wantObjects, gotObjects); diff != "" {
				t.Errorf("row objects (-want +got):\n%s", diff)
			}
		})
	}
	if list.Items[0].Kind != "" {
		t.Errorf("ConvertToTable set the kind on the caller's Job")
	}
	if _, err := conv.ConvertToTable(context.Background(), &corev1.Pod{}, nil); err == nil {
		t.Errorf("ConvertToTable(Pod) succeeded, want an error")
	}
}

func TestTableConvertor_ColumnDefinitions(t *testing.T) {
	t.Parallel()
	table, err := TableConvertor.ConvertToTable(context.Background(), stored(newJob("pi", nil)), nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	type col struct {
		Name, Type, Format string
		Priority           int32
		HasDescription     bool
	}
	var got []col
	for _, c := range table.ColumnDefinitions {
		got = append(got, col{c.Name, c.Type, c.Format, c.Priority, c.Description != ""})
	}
	want := []col{
		{"Name", "string", "name", 0, true}, {"Status", "string", "", 0, true},
		{"Completions", "string", "", 0, true}, {"Duration", "string", "", 0, true},
		{"Age", "string", "", 0, true}, {"Containers", "string", "", 1, true},
		{"Images", "string", "", 1, true}, {"Selector", "string", "", 1, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if table.ResourceVersion != "5" {
		t.Errorf("table resourceVersion = %q, want the Job's %q", table.ResourceVersion, "5")
	}
}
