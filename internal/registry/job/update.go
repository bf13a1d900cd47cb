package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/validation"
)

// validateJobUpdate is upstream's ValidateJobUpdate: metadata update rules,
// the spec rules once more and the immutable spec fields.
func validateJobUpdate(job, oldJob *batchv1.Job, opts validationOptions) field.ErrorList {
	errs := validation.ValidateObjectMetaUpdate(&job.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateJobSpecUpdate(&job.Spec, &oldJob.Spec, field.NewPath("spec"), opts)...)
}

func validateJobSpecUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path, opts validationOptions) field.ErrorList {
	errs := validateJobSpecWithSelector(spec, fldPath, opts)
	errs = append(errs, validateCompletionsUpdate(spec, oldSpec, fldPath.Child("completions"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.Selector, oldSpec.Selector, fldPath.Child("selector"))...)
	errs = append(errs, validateTemplateUpdate(spec, oldSpec, fldPath.Child("template"), opts)...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.CompletionMode, oldSpec.CompletionMode, fldPath.Child("completionMode"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, fldPath.Child("podFailurePolicy"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, fldPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.ManagedBy, oldSpec.ManagedBy, fldPath.Child("managedBy"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.SuccessPolicy, oldSpec.SuccessPolicy, fldPath.Child("successPolicy"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(spec.Scheduling, oldSpec.Scheduling, fldPath.Child("scheduling"))...)
}

// validateCompletionsUpdate: completions is immutable for NonIndexed Jobs;
// Indexed Jobs may scale it together with parallelism (elastic Indexed Jobs).
func validateCompletionsUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
		return apimachineryvalidation.ValidateImmutableField(spec.Completions, oldSpec.Completions, fldPath)
	}
	// A nil completions is already reported by the spec rules.
	if ptr.Equal(spec.Completions, oldSpec.Completions) || spec.Completions == nil {
		return nil
	}
	if !ptr.Equal(spec.Completions, spec.Parallelism) {
		return field.ErrorList{field.Invalid(fldPath, spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", fldPath.Root().Child("parallelism")))}
	}
	return nil
}

// validateTemplateUpdate: the template is immutable, except that a suspended
// Job (see optionsForJob) may change its scheduling directives (node
// affinity, node selector, tolerations, scheduling gates, template labels and
// annotations) and its containers' resources.
func validateTemplateUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path, opts validationOptions) field.ErrorList {
	tmpl := &spec.Template
	oldTmpl := &oldSpec.Template
	if opts.allowMutableTemplateDirectives {
		oldTmpl = oldTmpl.DeepCopy()
		adoptMutableDirectives(oldTmpl, tmpl)
	}
	return apimachineryvalidation.ValidateImmutableField(tmpl, oldTmpl, fldPath)
}

// adoptMutableDirectives copies into old (a private copy) the fields a
// suspended Job may change, so that only the other fields are compared.
func adoptMutableDirectives(old, tmpl *corev1.PodTemplateSpec) {
	switch {
	case tmpl.Spec.Affinity == nil && old.Spec.Affinity != nil:
		// Clearing affinity is allowed when it held only node affinity.
		old.Spec.Affinity.NodeAffinity = nil
		if *old.Spec.Affinity == (corev1.Affinity{}) {
			old.Spec.Affinity = nil
		}
	case tmpl.Spec.Affinity != nil && old.Spec.Affinity == nil:
		old.Spec.Affinity = &corev1.Affinity{NodeAffinity: tmpl.Spec.Affinity.NodeAffinity}
	case tmpl.Spec.Affinity != nil && old.Spec.Affinity != nil:
		old.Spec.Affinity.NodeAffinity = tmpl.Spec.Affinity.NodeAffinity
	}
	old.Spec.NodeSelector = tmpl.Spec.NodeSelector
	old.Spec.Tolerations = tmpl.Spec.Tolerations
	old.Spec.SchedulingGates = tmpl.Spec.SchedulingGates
	old.Annotations = tmpl.Annotations
	old.Labels = tmpl.Labels
	adoptResources(old.Spec.Containers, tmpl.Spec.Containers)
	adoptResources(old.Spec.InitContainers, tmpl.Spec.InitContainers)
}

// adoptResources copies container resources by position when the container
// lists line up by name; any other container change stays visible.
func adoptResources(old, cur []corev1.Container) {
	if len(old) != len(cur) {
		return
	}
	for i := range old {
		if old[i].Name == cur[i].Name {
			old[i].Resources = cur[i].Resources
		}
	}
}

// specChanged reports whether an update changes the spec (generation bump).
func specChanged(spec, oldSpec *batchv1.JobSpec) bool {
	return !apiequality.Semantic.DeepEqual(spec, oldSpec)
}
