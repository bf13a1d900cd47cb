package pod

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// validatePodMetadataAndSpec is upstream's validatePodMetadataAndSpec: the
// whole pod on create and on every update.
func validatePodMetadataAndSpec(pod *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	specPath := field.NewPath("spec")
	errs := skiffvalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validatePodAnnotations(pod.Annotations, &pod.Spec, metaPath.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath, specOptions{resourceIsPod: true})...)
	if pod.Spec.ServiceAccountName == "" {
		for vi, vol := range pod.Spec.Volumes {
			if vol.Projected == nil {
				continue
			}
			for si, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					p := specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken")
					errs = append(errs, field.Forbidden(p, "must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	errs = append(errs, trimmedImageErrors(pod.Spec.Containers, specPath.Child("containers"))...)
	return append(errs, trimmedImageErrors(pod.Spec.InitContainers, specPath.Child("initContainers"))...)
}

// validatePodCreate is upstream's ValidatePodCreate.
func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	errs := validatePodMetadataAndSpec(pod)
	specPath := field.NewPath("spec")
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return errs
}

var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate is upstream's ValidatePodUpdate: metadata rules, the full
// create validation of the new pod, and spec immutability except images,
// activeDeadlineSeconds (set or lowered), added tolerations, removed
// scheduling gates and a negative grace period raised to 1.
func validatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := skiffvalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, metaPath)
	errs = append(errs, validatePodMetadataAndSpec(newPod)...)
	errs = append(errs, validatePodAnnotationUpdates(newPod, oldPod, metaPath.Child("annotations"))...)
	specPath := field.NewPath("spec")
	for _, pair := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", newPod.Spec.Containers, oldPod.Spec.Containers}, {"initContainers", newPod.Spec.InitContainers, oldPod.Spec.InitContainers}} {
		ctrErrs, stop := validateContainerUpdates(pair.new, pair.old, specPath.Child(pair.name))
		errs = append(errs, ctrErrs...)
		if stop {
			return errs
		}
	}
	deadlineErrs, stop := validateActiveDeadlineUpdate(newPod.Spec.ActiveDeadlineSeconds, oldPod.Spec.ActiveDeadlineSeconds, specPath.Child("activeDeadlineSeconds"))
	errs = append(errs, deadlineErrs...)
	if stop {
		return errs
	}
	errs = append(errs, validateOnlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyDeletedSchedulingGates(newPod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)
	if apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		return errs
	}
	munged := mungeUpdatableFields(&newPod.Spec, &oldPod.Spec)
	if !apiequality.Semantic.DeepEqual(*munged, oldPod.Spec) {
		specDiff := cmp.Diff(oldPod.Spec, *munged)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), specDiff)))
	}
	return errs
}

// mungeUpdatableFields returns a copy of newSpec with the fields an update may
// change copied from oldSpec.
func mungeUpdatableFields(newSpec, oldSpec *corev1.PodSpec) *corev1.PodSpec {
	munged := newSpec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldSpec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldSpec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = nil
	if oldSpec.ActiveDeadlineSeconds != nil {
		v := *oldSpec.ActiveDeadlineSeconds
		munged.ActiveDeadlineSeconds = &v
	}
	munged.SchedulingGates = oldSpec.SchedulingGates
	munged.Tolerations = oldSpec.Tolerations
	if oldSpec.TerminationGracePeriodSeconds != nil && *oldSpec.TerminationGracePeriodSeconds < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = oldSpec.TerminationGracePeriodSeconds
	}
	if len(oldSpec.SchedulingGates) > 0 {
		// Gated pods may gain nodeSelector entries and change node affinity;
		// Skiff has no scheduler gates in practice, so only additions to the
		// node selector are accepted here.
		if isMapSuperset(munged.NodeSelector, oldSpec.NodeSelector) {
			munged.NodeSelector = oldSpec.NodeSelector
		}
	}
	return munged
}

func isMapSuperset(newMap, oldMap map[string]string) bool {
	for k, v := range oldMap {
		if nv, ok := newMap[k]; !ok || nv != v {
			return false
		}
	}
	return true
}

func validateContainerUpdates(newC, oldC []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(newC) != len(oldC) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	var errs field.ErrorList
	for i, c := range newC {
		if c.Image == "" {
			errs = append(errs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
		if len(strings.TrimSpace(c.Image)) != len(c.Image) {
			errs = append(errs, field.Invalid(fldPath.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return errs, false
}

func validateActiveDeadlineUpdate(newV, oldV *int64, fldPath *field.Path) (field.ErrorList, bool) {
	if newV == nil {
		if oldV != nil {
			return field.ErrorList{field.Invalid(fldPath, newV, "must not update from a positive integer to nil value")}, false
		}
		return nil, false
	}
	if *newV < 0 || *newV > math.MaxInt32 {
		return field.ErrorList{field.Invalid(fldPath, *newV, validation.InclusiveRangeError(0, math.MaxInt32))}, true
	}
	if oldV != nil && *oldV < *newV {
		return field.ErrorList{field.Invalid(fldPath, *newV, "must be less than or equal to previous value")}, true
	}
	return nil, false
}

func validateOnlyDeletedSchedulingGates(newGates, oldGates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := sets.New[string]()
	for _, g := range oldGates {
		old.Insert(g.Name)
	}
	var errs field.ErrorList
	for i, g := range newGates {
		if !old.Has(g.Name) {
			errs = append(errs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// validatePodAnnotationUpdates forbids adding, changing or removing the
// mirror-pod annotation, then applies the create rules.
func validatePodAnnotationUpdates(newPod, oldPod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	oldV, hadOld := oldPod.Annotations[mirrorPodAnnotation]
	newV, hasNew := newPod.Annotations[mirrorPodAnnotation]
	switch {
	case hadOld && (!hasNew || newV != oldV):
		errs = append(errs, field.Forbidden(fldPath.Key(mirrorPodAnnotation), "may not remove or update mirror pod annotation"))
	case !hadOld && hasNew:
		errs = append(errs, field.Forbidden(fldPath.Key(mirrorPodAnnotation), "may not add mirror pod annotation"))
	}
	return append(errs, validatePodAnnotations(newPod.Annotations, &newPod.Spec, fldPath)...)
}

// validatePodStatusUpdate is upstream's ValidatePodStatusUpdate. Upstream
// does not validate status.phase values or phase transitions; only
// containers may not leave the terminated state when the pod never restarts.
func validatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := skiffvalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, metaPath)
	errs = append(errs, validatePodAnnotationUpdates(newPod, oldPod, metaPath.Child("annotations"))...)
	errs = append(errs, validatePodConditions(newPod.Status.Conditions, metaPath.Child("conditions"))...)
	statusPath := field.NewPath("status")
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		errs = append(errs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := newPod.Status.NominatedNodeName; n != oldPod.Status.NominatedNodeName && n != "" {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(n, false) {
			errs = append(errs, field.Invalid(statusPath.Child("nominatedNodeName"), n, msg))
		}
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newPod.Status.QOSClass, oldPod.Status.QOSClass, statusPath.Child("qosClass"))...)
	errs = append(errs, validateContainerStateTransition(newPod.Status.ContainerStatuses, oldPod.Status.ContainerStatuses,
		statusPath.Child("containerStatuses"), oldPod.Spec.RestartPolicy, nil)...)
	errs = append(errs, validateContainerStateTransition(newPod.Status.InitContainerStatuses, oldPod.Status.InitContainerStatuses,
		statusPath.Child("initContainerStatuses"), oldPod.Spec.RestartPolicy, oldPod.Spec.InitContainers)...)
	errs = append(errs, validateContainerStateTransition(newPod.Status.EphemeralContainerStatuses, oldPod.Status.EphemeralContainerStatuses,
		statusPath.Child("ephemeralContainerStatuses"), corev1.RestartPolicyNever, nil)...)
	errs = append(errs, validateStatusIPs(newPod.Status.PodIPs, statusPath.Child("podIPs"))...)
	return append(errs, validateHostIPs(&newPod.Status, statusPath.Child("hostIPs"))...)
}

// validatePodConditions checks custom condition types (upstream reports them
// under metadata.conditions[i].Type, a historical path kept for fidelity).
func validatePodConditions(conditions []corev1.PodCondition, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range conditions {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized:
			continue
		}
		errs = append(errs, validateQualifiedName(string(c.Type), fldPath.Index(i).Child("Type"))...)
	}
	return errs
}

// validateContainerStateTransition forbids a terminated container from
// leaving the terminated state unless the restart policy allows it (Always,
// or OnFailure after a non-zero exit; restartable init containers always).
func validateContainerStateTransition(newS, oldS []corev1.ContainerStatus, fldPath *field.Path, policy corev1.RestartPolicy, initContainers []corev1.Container) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var errs field.ErrorList
	for i, old := range oldS {
		if old.State.Terminated == nil {
			continue
		}
		if old.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure {
			continue
		}
		if isRestartableInitContainerNamed(initContainers, old.Name) {
			continue
		}
		for _, s := range newS {
			if s.Name == old.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func isRestartableInitContainerNamed(containers []corev1.Container, name string) bool {
	for i := range containers {
		if containers[i].Name == name {
			return isRestartableInitContainer(&containers[i])
		}
	}
	return false
}

func isRestartableInitContainer(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func validateStatusIPs(ips []corev1.PodIP, fldPath *field.Path) field.ErrorList {
	list := make([]string, 0, len(ips))
	for _, ip := range ips {
		list = append(list, ip.IP)
	}
	return validateIPList(list, ips, fldPath)
}

func validateHostIPs(s *corev1.PodStatus, fldPath *field.Path) field.ErrorList {
	if len(s.HostIPs) == 0 {
		return nil
	}
	var errs field.ErrorList
	if s.HostIP != s.HostIPs[0].IP {
		errs = append(errs, field.Invalid(fldPath.Index(0).Child("ip"), s.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	list := make([]string, 0, len(s.HostIPs))
	for _, ip := range s.HostIPs {
		list = append(list, ip.IP)
	}
	return append(errs, validateIPList(list, s.HostIPs, fldPath)...)
}

// validateIPList checks that every IP is valid and that a list of two is one
// IPv4 and one IPv6 address without duplicates.
func validateIPList[T any](ips []string, raw []T, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		errs = append(errs, validation.IsValidIP(fldPath.Index(i), ip)...)
	}
	if len(ips) <= 1 {
		return errs
	}
	v4, v6 := 0, 0
	for _, ip := range ips {
		if addr, err := netip.ParseAddr(ip); err == nil {
			if addr.Unmap().Is4() {
				v4++
			} else {
				v6++
			}
		}
	}
	if len(ips) > 2 || v4 != 1 || v6 != 1 {
		errs = append(errs, field.Invalid(fldPath, raw, "may specify no more than one IP for each IP family"))
	}
	seen := sets.New[string]()
	for i, ip := range ips {
		if seen.Has(ip) {
			errs = append(errs, field.Duplicate(fldPath.Index(i), raw[i]))
		}
		seen.Insert(ip)
	}
	return errs
}
