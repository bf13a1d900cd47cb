package job

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders Jobs as upstream's printers do (printJob in
// k8s.io/kubernetes pkg/printers/internalversion). The server always prints
// the wide columns, as kube-apiserver does; kubectl hides priority-1 columns
// unless -o wide.
type tableConvertor struct {
	// now is the clock AGE and DURATION are measured against.
	now func() time.Time
}

// TableConvertor renders jobs and job lists as meta.k8s.io/v1 Tables.
var TableConvertor = tableConvertor{now: time.Now}

var _ generic.TableConvertor = tableConvertor{}

// The descriptions upstream takes from the API docs (SwaggerDoc).
var jobColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Status", Type: "string", Description: "Status of the job."},
	{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
	{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
	{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
	{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]},
}

// ConvertToTable converts a *batchv1.Job or *batchv1.JobList. Rows carry
// the object as tableOptions.IncludeObject asks: the metadata (the default),
// the whole Job, or nothing.
func (c tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, tableOptions *metav1.TableOptions) (*metav1.Table, error) {
	var opts metav1.TableOptions
	if tableOptions != nil {
		opts = *tableOptions
	}
	now := c.now
	if now == nil {
		now = time.Now
	}
	table := &metav1.Table{}
	if !opts.NoHeaders {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), jobColumns...)
	}
	switch o := obj.(type) {
	case *batchv1.Job:
		row, err := jobRow(o, now(), opts.IncludeObject)
		if err != nil {
			return nil, err
		}
		table.Rows = []metav1.TableRow{row}
		table.ResourceVersion = o.ResourceVersion
	case *batchv1.JobList:
		table.Rows = make([]metav1.TableRow, 0, len(o.Items))
		for i := range o.Items {
			row, err := jobRow(&o.Items[i], now(), opts.IncludeObject)
			if err != nil {
				return nil, err
			}
			table.Rows = append(table.Rows, row)
		}
		table.ResourceVersion = o.ResourceVersion
		table.Continue = o.Continue
		table.RemainingItemCount = o.RemainingItemCount
	default:
		return nil, fmt.Errorf("converting %T to a job table: not a Job or JobList", obj)
	}
	return table, nil
}

func jobRow(job *batchv1.Job, now time.Time, include metav1.IncludeObjectPolicy) (metav1.TableRow, error) {
	row := metav1.TableRow{}
	switch include {
	case metav1.IncludeNone:
	case metav1.IncludeObject:
		// Embedded objects need their kind on the wire; the caller's object
		// is left untouched.
		full := job.DeepCopy()
		full.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("Job"))
		row.Object = runtime.RawExtension{Object: full}
	case metav1.IncludeMetadata, "":
		m, err := meta.Accessor(job)
		if err != nil {
			return row, fmt.Errorf("reading job metadata: %w", err)
		}
		partial := meta.AsPartialObjectMetadata(m)
		partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
		row.Object = runtime.RawExtension{Object: partial}
	default:
		return row, fmt.Errorf("unknown includeObject policy %q", include)
	}
	names, images := containerCells(job.Spec.Template.Spec.Containers)
	row.Cells = []any{
		job.Name,
		jobStatusCell(job),
		completionsCell(job),
		durationCell(job, now),
		ageCell(job.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(job.Spec.Selector),
	}
	return row, nil
}

// jobStatusCell is the STATUS column: terminal conditions first, then a Job
// being deleted, then the interim conditions.
func jobStatusCell(job *batchv1.Job) string {
	conds := job.Status.Conditions
	switch {
	case hasCondition(conds, batchv1.JobComplete):
		return "Complete"
	case hasCondition(conds, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case hasCondition(conds, batchv1.JobSuspended):
		return "Suspended"
	case hasCondition(conds, batchv1.JobFailureTarget):
		return "FailureTarget"
	case hasCondition(conds, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// hasCondition is upstream's hasJobCondition: the first condition of the
// type decides.
func hasCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// completionsCell is "<succeeded>/<completions>", or for Jobs without
// completions "<succeeded>/1" and "<succeeded>/1 of <parallelism>".
func completionsCell(job *batchv1.Job) string {
	succeeded := job.Status.Succeeded
	if job.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", succeeded, *job.Spec.Completions)
	}
	if job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", succeeded, *job.Spec.Parallelism)
	}
	return fmt.Sprintf("%d/1", succeeded)
}

// durationCell is empty before the Job starts, the running time while it
// runs and startTime→completionTime once complete.
func durationCell(job *batchv1.Job, now time.Time) string {
	switch {
	case job.Status.StartTime == nil:
		return ""
	case job.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(job.Status.StartTime.Time))
	}
	return duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
}

func ageCell(created metav1.Time, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created.Time))
}

// containerCells joins container names and images with commas.
func containerCells(containers []corev1.Container) (string, string) {
	names := make([]string, len(containers))
	images := make([]string, len(containers))
	for i, c := range containers {
		names[i] = c.Name
		images[i] = c.Image
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}
