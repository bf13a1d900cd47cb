package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/registry/pod"
	"github.com/skiff-sh/skiff/internal/registry/validation"
)

// Limits from upstream pkg/apis/batch/validation.
const (
	maxParallelismForIndexedJob             = 100_000
	maxFailedIndexesForIndexedJob           = 100_000
	completionsSoftLimit                    = 100_000
	parallelismLimitForHighCompletions      = 10_000
	maxFailedIndexesLimitForHighCompletions = 10_000
	maxManagedByLength                      = 63
)

// validationOptions are upstream's JobValidationOptions, derived from the
// old object on update.
type validationOptions struct {
	// requirePrefixedLabels: the template must carry the
	// batch.kubernetes.io/ job-name and controller-uid labels (always on
	// create; on update only if the old template had them).
	requirePrefixedLabels bool
	// allowInvalidLabelValueInSelector keeps old, once-valid selectors valid.
	allowInvalidLabelValueInSelector bool
	// allowMutableTemplateDirectives: the template's scheduling directives
	// and container resources may change (suspended Jobs, see optionsForJob).
	allowMutableTemplateDirectives bool
}

func optionsForJob(job, oldJob *batchv1.Job) validationOptions {
	opts := validationOptions{requirePrefixedLabels: true}
	if oldJob == nil {
		return opts
	}
	opts.allowInvalidLabelValueInSelector = metav1validation.LabelSelectorHasInvalidLabelValue(oldJob.Spec.Selector)
	suspended := ptr.Deref(oldJob.Spec.Suspend, false)
	notStarted := oldJob.Status.StartTime == nil
	stopped := isConditionTrue(oldJob.Status.Conditions, batchv1.JobSuspended) && oldJob.Status.Active == 0
	opts.allowMutableTemplateDirectives = suspended && (notStarted || stopped)
	_, hadJobName := oldJob.Spec.Template.Labels[batchv1.JobNameLabel]
	_, hadControllerUID := oldJob.Spec.Template.Labels[batchv1.ControllerUidLabel]
	opts.requirePrefixedLabels = hadJobName && hadControllerUID
	return opts
}

// validateJob is upstream's ValidateJob.
func validateJob(job *batchv1.Job, opts validationOptions) field.ErrorList {
	errs := validation.ValidateObjectMeta(&job.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateGeneratedSelector(job, opts.requirePrefixedLabels)...)
	errs = append(errs, validateJobSpecWithSelector(&job.Spec, field.NewPath("spec"), opts)...)
	if ptr.Deref(job.Spec.CompletionMode, "") == batchv1.IndexedCompletion && ptr.Deref(job.Spec.Completions, 0) > 0 {
		// Indexed pods are named <job>-<index> and use it as hostname; the
		// largest index must still make a DNS label.
		hostname := fmt.Sprintf("%s-%d", job.Name, *job.Spec.Completions-1)
		if msgs := utilvalidation.IsDNS1123Label(hostname); len(msgs) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), job.Name, "will not able to create pod with invalid DNS label: "+hostname))
		}
	}
	return errs
}

// validateGeneratedSelector checks that an auto-generated selector and the
// template labels are the ones the server generates for this uid and name.
func validateGeneratedSelector(job *batchv1.Job, requirePrefixed bool) field.ErrorList {
	if ptr.Deref(job.Spec.ManualSelector, false) || job.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	metaPath := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		LegacyControllerUIDLabel: string(job.UID),
		LegacyJobNameLabel:       job.Name,
	}
	keys := []string{LegacyControllerUIDLabel, LegacyJobNameLabel}
	if requirePrefixed {
		expected[batchv1.ControllerUidLabel] = string(job.UID)
		expected[batchv1.JobNameLabel] = job.Name
		keys = append(keys, batchv1.ControllerUidLabel, batchv1.JobNameLabel)
	}
	for _, k := range keys {
		errs = append(errs, validateHasLabel(&job.Spec.Template.ObjectMeta, metaPath, k, expected[k])...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !sel.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// validateHasLabel is upstream's core ValidateHasLabel.
func validateHasLabel(meta *metav1.ObjectMeta, fldPath *field.Path, key, expected string) field.ErrorList {
	actual, found := meta.Labels[key]
	switch {
	case !found:
		return field.ErrorList{field.Required(fldPath.Child("labels").Key(key), expected)}
	case actual != expected:
		return field.ErrorList{field.Invalid(fldPath.Child("labels").Key(key), meta.Labels, "must be '"+expected+"'")}
	}
	return nil
}

// validateJobSpecWithSelector is upstream's ValidateJobSpec: the spec rules
// plus the selector and its match with the template labels.
func validateJobSpecWithSelector(spec *batchv1.JobSpec, fldPath *field.Path, opts validationOptions) field.ErrorList {
	errs := validateJobSpec(spec, fldPath)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValueInSelector}
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, selOpts, fldPath.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// validateJobSpec is upstream's validateJobSpec, in upstream's order.
func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	errs := nonNegative(spec.Parallelism, fldPath.Child("parallelism"))
	errs = append(errs, nonNegative(spec.Completions, fldPath.Child("completions"))...)
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, nonNegative(spec.BackoffLimit, fldPath.Child("backoffLimit"))...)
	errs = append(errs, nonNegative(spec.TTLSecondsAfterFinished, fldPath.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegative(spec.BackoffLimitPerIndex, fldPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegative(spec.MaxFailedIndexes, fldPath.Child("maxFailedIndexes"))...)
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if spec.ManagedBy != nil {
		errs = append(errs, utilvalidation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(fldPath.Child("managedBy"), "", maxManagedByLength))
		}
	}
	errs = append(errs, validateCompletionMode(spec, fldPath)...)
	if spec.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
			errs = append(errs, field.Invalid(fldPath.Child("successPolicy"), internalSuccessPolicy(spec.SuccessPolicy), "requires indexed completion mode"))
		} else {
			errs = append(errs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
		}
	}
	errs = append(errs, validatePodReplacementPolicy(spec, fldPath.Child("podReplacementPolicy"))...)
	errs = append(errs, pod.ValidatePodTemplateSpec(&spec.Template, fldPath.Child("template"))...)
	return append(errs, validateRestartPolicy(spec, fldPath.Child("template", "spec", "restartPolicy"))...)
}

// validateCompletionMode checks completionMode and the Indexed-only and
// NonIndexed-only limits.
func validateCompletionMode(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mode := ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion)
	if spec.CompletionMode != nil && mode != batchv1.NonIndexedCompletion && mode != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), mode, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if mode == batchv1.NonIndexedCompletion {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
		return errs
	}
	if mode != batchv1.IndexedCompletion {
		return errs
	}
	if spec.Completions == nil {
		errs = append(errs, field.Required(fldPath.Child("completions"), "when completion mode is Indexed"))
	}
	if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
		errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completion mode is Indexed", maxParallelismForIndexedJob)))
	}
	if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
		errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
	}
	if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
		errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
	}
	if spec.Completions != nil && *spec.Completions > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
		errs = append(errs, validateHighCompletions(spec, fldPath)...)
	}
	return errs
}

// validateHighCompletions limits Indexed Jobs with backoffLimitPerIndex and
// more than 10^5 completions.
func validateHighCompletions(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MaxFailedIndexes == nil {
		errs = append(errs, field.Required(fldPath.Child("maxFailedIndexes"), fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
	}
	if spec.Parallelism != nil && *spec.Parallelism > parallelismLimitForHighCompletions {
		errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", parallelismLimitForHighCompletions, completionsSoftLimit)))
	}
	if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesLimitForHighCompletions {
		errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", maxFailedIndexesLimitForHighCompletions, completionsSoftLimit)))
	}
	return errs
}

// validatePodReplacementPolicy: Failed only with a podFailurePolicy,
// otherwise Failed or TerminatingOrFailed.
func validatePodReplacementPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if spec.PodReplacementPolicy == nil {
		return nil
	}
	policy := *spec.PodReplacementPolicy
	if spec.PodFailurePolicy != nil {
		if policy != batchv1.Failed {
			return field.ErrorList{field.NotSupported(fldPath, policy, []batchv1.PodReplacementPolicy{batchv1.Failed})}
		}
		return nil
	}
	if policy != batchv1.Failed && policy != batchv1.TerminatingOrFailed {
		return field.ErrorList{field.NotSupported(fldPath, policy, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed})}
	}
	return nil
}

// validateRestartPolicy: Jobs run pods with OnFailure or Never only (the pod
// default, Always, is reported as missing), and Never with a podFailurePolicy.
func validateRestartPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	policy := spec.Template.Spec.RestartPolicy
	switch {
	case policy == corev1.RestartPolicyAlways || policy == "":
		return field.ErrorList{field.Required(fldPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever))}
	case policy != corev1.RestartPolicyOnFailure && policy != corev1.RestartPolicyNever:
		return field.ErrorList{field.NotSupported(fldPath, policy, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever})}
	case spec.PodFailurePolicy != nil && policy != corev1.RestartPolicyNever:
		return field.ErrorList{field.Invalid(fldPath, policy, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever))}
	}
	return nil
}

// nonNegative reports a negative optional int32 as upstream's
// ValidateNonnegativeField does.
func nonNegative(v *int32, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apimachineryvalidation.ValidateNonnegativeField(int64(*v), fldPath)
}
