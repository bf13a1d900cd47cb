package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubectl/pkg/util/qos"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// podStrategy implements the create, update and graceful-delete behaviour of
// core/v1 Pods (upstream pkg/registry/core/pod/strategy.go). It is stateless.
type podStrategy struct{}

// Strategy is the strategy for the pods resource.
var Strategy = podStrategy{}

var (
	_ generic.Strategy               = podStrategy{}
	_ generic.GracefulDeleteStrategy = podStrategy{}
	_ generic.ResetFieldsStrategy    = podStrategy{}
)

// NamespaceScoped is true for pods.
func (podStrategy) NamespaceScoped() bool { return true }

// ResetFields lists what the main resource ignores on update.
func (podStrategy) ResetFields() []string { return []string{"status"} }

// PrepareForCreate sets generation 1 and resets the status to phase Pending
// with the pod's QoS class (a client-supplied qosClass is kept, as upstream's
// qos.GetPodQOS does), plus the SchedulingGated condition for gated pods.
func (podStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pod.Generation = 1
	pod.Status = corev1.PodStatus{
		Phase:    corev1.PodPending,
		QOSClass: qos.GetPodQOS(pod),
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// PrepareForUpdate keeps the stored status and bumps generation when the
// spec changed.
func (podStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	newPod.Status = oldPod.Status
	newPod.Generation = oldPod.Generation
	if !apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		newPod.Generation++
	}
}

// Validate validates a new pod, metadata included.
func (podStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T", obj))}
	}
	return validatePodCreate(pod)
}

// WarningsOnCreate returns upstream's pod warnings Skiff reproduces: a name
// that is not a DNS label, and a negative termination grace period.
func (podStrategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var warnings []string
	if msgs := validation.IsDNS1123Label(pod.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	if p := pod.Spec.TerminationGracePeriodSeconds; p != nil && *p < 0 {
		warnings = append(warnings, "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1")
	}
	return warnings
}

// AllowCreateOnUpdate is false for pods.
func (podStrategy) AllowCreateOnUpdate() bool { return false }

// AllowUnconditionalUpdate is true for pods.
func (podStrategy) AllowUnconditionalUpdate() bool { return true }

// ValidateUpdate validates an update of the main resource.
func (podStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T, %T", obj, old))}
	}
	return validatePodUpdate(newPod, oldPod)
}

// WarningsOnUpdate returns nothing, as upstream (pod updates are frequent).
func (podStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// CheckGracefulDelete sets options.GracePeriodSeconds to the pod's grace
// period and always reports a graceful delete (upstream CheckGracefulDelete):
// the requested period, else spec.terminationGracePeriodSeconds, else 0; 0
// when the pod is unscheduled or terminal; 1 when negative.
func (podStrategy) CheckGracefulDelete(_ context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if options == nil {
		return false
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	period := int64(0)
	switch {
	case options.GracePeriodSeconds != nil:
		period = *options.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" {
		period = 0
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	options.GracePeriodSeconds = &period
	return true
}
