package node

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

const podCIDRChangeMsg = `node updates may not change podCIDR except from "" to valid`

// validateNode is upstream ValidateNode, without the alpha scheduler
// annotations (taints and preferAvoidPods in metadata.annotations).
func validateNode(n *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := skiffvalidation.ValidateObjectMeta(&n.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, metaPath)
	// Upstream reports spec.taints under metadata.taints; kept for fidelity.
	errs = append(errs, validateTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	errs = append(errs, validateResources(n)...)
	return append(errs, validatePodCIDRs(n.Spec.PodCIDRs)...)
}

func validatePodCIDRs(cidrs []string) field.ErrorList {
	if len(cidrs) == 0 {
		return nil
	}
	var errs field.ErrorList
	fldPath := field.NewPath("spec", "podCIDRs")
	for i, c := range cidrs {
		errs = append(errs, validation.IsValidCIDR(fldPath.Index(i), c)...)
	}
	if len(cidrs) < 2 {
		return errs
	}
	dualStack, err := netutils.IsDualStackCIDRStrings(cidrs)
	if err != nil {
		errs = append(errs, field.InternalError(fldPath, fmt.Errorf("invalid PodCIDRs. failed to check with dual stack with error:%w", err)))
	}
	if !dualStack || len(cidrs) > 2 {
		errs = append(errs, field.Invalid(fldPath, cidrs, "may specify no more than one CIDR for each IP family"))
	}
	seen := sets.New[string]()
	for i, c := range cidrs {
		if seen.Has(c) {
			errs = append(errs, field.Duplicate(fldPath.Index(i), c))
		}
		seen.Insert(c)
	}
	return errs
}

// validateTaints is upstream validateNodeTaints.
func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	unique := map[corev1.TaintEffect]sets.Set[string]{}
	for i, taint := range taints {
		idxPath := fldPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(taint.Key, idxPath.Child("key"))...)
		if msgs := validation.IsValidLabelValue(taint.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(idxPath.Child("value"), taint.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(taint.Effect, idxPath.Child("effect"))...)
		if unique[taint.Effect].Has(taint.Key) {
			dup := field.Duplicate(idxPath, taint)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if unique[taint.Effect] == nil {
			unique[taint.Effect] = sets.New[string]()
		}
		unique[taint.Effect].Insert(taint.Key)
	}
	return errs
}

func validateTaintEffect(effect corev1.TaintEffect, fldPath *field.Path) field.ErrorList {
	switch effect {
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	valid := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
	return field.ErrorList{field.NotSupported(fldPath, effect, valid)}
}

// validateResources is upstream ValidateNodeResources.
func validateResources(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for k, v := range n.Status.Capacity {
		errs = append(errs, validateQuantity(k, v, field.NewPath("status", "capacity", string(k)))...)
	}
	for k, v := range n.Status.Allocatable {
		errs = append(errs, validateQuantity(k, v, field.NewPath("status", "allocatable", string(k)))...)
	}
	return errs
}

// validateQuantity is upstream ValidateResourceQuantityValue.
func validateQuantity(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if value.Cmp(resource.Quantity{}) < 0 {
		errs = append(errs, field.Invalid(fldPath, value.String(), apimachineryvalidation.IsNegativeErrorMsg))
	}
	if isIntegerResource(name) && value.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, value, "must be an integer"))
	}
	return errs
}

var integerResources = sets.New(
	corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
	corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourceConfigMaps,
	corev1.ResourcePersistentVolumeClaims, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
)

// isIntegerResource is upstream helper.IsIntegerResourceName: the standard
// countable resources and extended resources.
func isIntegerResource(name corev1.ResourceName) bool {
	return integerResources.Has(name) || isExtendedResource(name)
}

func isExtendedResource(name corev1.ResourceName) bool {
	s := string(name)
	native := !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix)
	if native || strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

// validateNodeUpdate is upstream ValidateNodeUpdate, without the removed
// dynamic kubelet config validation.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := skiffvalidation.ValidateObjectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta, metaPath)
	errs = append(errs, validateResources(n)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, addr := range n.Status.Addresses {
		if seen[addr] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), addr))
		}
		seen[addr] = true
	}
	if len(old.Spec.PodCIDRs) > 0 {
		if len(old.Spec.PodCIDRs) != len(n.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), podCIDRChangeMsg))
		} else {
			for i, c := range old.Spec.PodCIDRs {
				if c != n.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), podCIDRChangeMsg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), `node updates may not change providerID except from "" to valid`))
	}
	errs = append(errs, validateTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	if n.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}
