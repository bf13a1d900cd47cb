package job

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

var _ generic.AttrFunc = GetAttrs

// GetAttrs returns a Job's labels and its field-selector fields:
// metadata.name, metadata.namespace and status.successful (upstream
// JobToSelectableFields).
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, nil, fmt.Errorf("given object is not a job: %T", obj)
	}
	return labels.Set(job.Labels), fields.Set{
		"metadata.name":      job.Name,
		"metadata.namespace": job.Namespace,
		"status.successful":  strconv.Itoa(int(job.Status.Succeeded)),
	}, nil
}
