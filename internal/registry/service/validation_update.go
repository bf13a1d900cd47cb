package service

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

const mayNotChange = "may not change once set"

// validateServiceUpdate is upstream ValidateServiceUpdate.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := skiffvalidation.ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateClusterIPsUpdate(old, svc)...)
	errs = append(errs, validateIPFamiliesUpdate(old, svc)...)
	errs = append(errs, validateLoadBalancerClass(old, svc)...)
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, validateService(svc)...)
}

// validateClusterIPsUpdate is upstream validateUpgradeDowngradeClusterIPs:
// the primary cluster IP never changes, except to or from ExternalName.
func validateClusterIPsUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) && isHeadless(svc) {
		return nil
	}
	p := specPath.Child("clusterIPs")
	oldIPs, ips := old.Spec.ClusterIPs, svc.Spec.ClusterIPs
	var errs field.ErrorList
	switch {
	case len(oldIPs) == len(ips):
		for i, ip := range oldIPs {
			if ip != ips[i] {
				errs = append(errs, field.Invalid(p.Index(i), ips, mayNotChange))
			}
		}
	case len(oldIPs) > len(ips):
		if len(ips) == 0 {
			errs = append(errs, field.Invalid(p.Index(0), ips, "primary clusterIP can not be unset"))
		}
		if len(oldIPs) > 0 && len(ips) > 0 && ips[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), ips, mayNotChange))
		}
		if len(ips) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(oldIPs) > 0 && ips[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), ips, mayNotChange))
		}
	}
	return errs
}

// validateIPFamiliesUpdate is upstream validateUpgradeDowngradeIPFamilies.
func validateIPFamiliesUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) || isHeadless(svc) {
		return nil
	}
	p := specPath.Child("ipFamilies")
	oldF, f := old.Spec.IPFamilies, svc.Spec.IPFamilies
	var errs field.ErrorList
	switch {
	case len(oldF) == len(f):
		for i := range oldF {
			if oldF[i] != f[i] {
				errs = append(errs, field.Invalid(p.Index(0), f, mayNotChange))
			}
		}
	case len(oldF) > len(f):
		if len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(p.Index(0), f, "primary ipFamily can not be unset"))
		}
		if len(f) > 0 && f[0] != oldF[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, mayNotChange))
		}
		if len(f) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(oldF) > 0 && len(f) > 0 && f[0] != oldF[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, mayNotChange))
		}
	}
	return errs
}

// validateStatusUpdate is upstream ValidateServiceStatusUpdate.
func validateStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := skiffvalidation.ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateLoadBalancerStatus(svc)...)
}
