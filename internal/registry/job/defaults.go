package job

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/pod"
)

// Default values upstream's SetDefaults_Job fills in.
const (
	defaultBackoffLimit = int32(6)
	// backoffLimitWithPerIndex is the backoffLimit default when
	// backoffLimitPerIndex is set: the global limit is then effectively off.
	backoffLimitWithPerIndex = int32(math.MaxInt32)
)

// SetDefaults applies upstream's batch/v1 Job defaulting
// (SetObjectDefaults_Job: SetDefaults_Job, the podFailurePolicy pattern
// defaults and the pod template defaults). The server calls it after decoding
// every request body and after reading from storage; it is idempotent.
//
// Like upstream, a Job without labels gets its template's label map: the two
// share one map, so the labels PrepareForCreate generates on the template
// show up on the Job too.
func SetDefaults(job *batchv1.Job) {
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To[int32](1)
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptr.To(backoffLimitWithPerIndex)
		} else {
			spec.BackoffLimit = ptr.To(defaultBackoffLimit)
		}
	}
	if spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = spec.Template.Labels
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			patterns := spec.PodFailurePolicy.Rules[i].OnPodConditions
			for j := range patterns {
				if patterns[j].Status == "" {
					patterns[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	pod.SetDefaultsPodTemplateSpec(&spec.Template)
}
