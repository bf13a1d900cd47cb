package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// podStatusStrategy implements updates through pods/status (the node agent
// and controllers): the spec, deletionTimestamp and ownerReferences are kept
// from the stored pod, the rest (status, labels, annotations...) may change.
type podStatusStrategy struct {
	podStrategy
}

// StatusStrategy is the strategy for the pods/status subresource.
var StatusStrategy = podStatusStrategy{Strategy}

var (
	_ generic.UpdateStrategy      = podStatusStrategy{}
	_ generic.ResetFieldsStrategy = podStatusStrategy{}
)

// ResetFields lists what pods/status ignores.
func (podStatusStrategy) ResetFields() []string {
	return []string{"spec", "metadata.deletionTimestamp", "metadata.ownerReferences"}
}

// PrepareForUpdate is upstream's podStatusStrategy.PrepareForUpdate: keep the
// spec and owner references, never set deletionTimestamp (the store restores
// the stored one), backfill qosClass and observedGeneration values a client
// left empty.
func (podStatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	newPod.Spec = oldPod.Spec
	newPod.DeletionTimestamp = nil
	newPod.OwnerReferences = oldPod.OwnerReferences
	newPod.Generation = oldPod.Generation
	if newPod.Status.QOSClass == "" {
		newPod.Status.QOSClass = oldPod.Status.QOSClass
	}
	preserveObservedGeneration(newPod, oldPod)
}

// preserveObservedGeneration keeps the old observedGeneration values (of the
// status and of each condition, matched by type in order) that the new
// status leaves at zero.
func preserveObservedGeneration(newPod, oldPod *corev1.Pod) {
	if newPod.Status.ObservedGeneration == 0 {
		newPod.Status.ObservedGeneration = oldPod.Status.ObservedGeneration
	}
	old := map[corev1.PodConditionType][]int64{}
	for _, c := range oldPod.Status.Conditions {
		old[c.Type] = append(old[c.Type], c.ObservedGeneration)
	}
	for i, c := range newPod.Status.Conditions {
		var gen int64
		if gens := old[c.Type]; len(gens) > 0 {
			gen = gens[0]
			old[c.Type] = gens[1:]
		}
		if c.ObservedGeneration == 0 {
			newPod.Status.Conditions[i].ObservedGeneration = gen
		}
	}
}

// ValidateUpdate is upstream's ValidatePodStatusUpdate.
func (podStatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T, %T", obj, old))}
	}
	return validatePodStatusUpdate(newPod, oldPod)
}

// WarningsOnUpdate warns about non-canonical pod and host IPs.
func (podStatusStrategy) WarningsOnUpdate(_ context.Context, obj, _ runtime.Object) []string {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var warnings []string
	for i, ip := range pod.Status.PodIPs {
		warnings = append(warnings, validation.GetWarningsForIP(field.NewPath("status", "podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	for i, ip := range pod.Status.HostIPs {
		warnings = append(warnings, validation.GetWarningsForIP(field.NewPath("status", "hostIPs").Index(i).Child("ip"), ip.IP)...)
	}
	return warnings
}
