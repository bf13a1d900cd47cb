package service

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateClusterIPsRelatedFields is upstream
// ValidateServiceClusterIPsRelatedFields.
func validateClusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	ipsPath, famPath := specPath.Child("clusterIPs"), specPath.Child("ipFamilies")
	ips := svc.Spec.ClusterIPs
	if svc.Spec.ClusterIP != "" {
		if len(ips) == 0 {
			errs = append(errs, field.Required(ipsPath, ""))
		} else if ips[0] != svc.Spec.ClusterIP {
			errs = append(errs, field.Invalid(ipsPath, ips, "first value must match `clusterIP`"))
		}
	} else if len(ips) != 0 {
		errs = append(errs, field.Invalid(ipsPath, ips, "must be empty when `clusterIP` is not specified"))
	}
	seen := sets.New[corev1.IPFamily]()
	for i, f := range svc.Spec.IPFamilies {
		if !supportedFamilies.Has(f) {
			errs = append(errs, field.NotSupported(famPath.Index(i), f, sets.List(supportedFamilies)))
		}
		if seen.Has(f) {
			errs = append(errs, field.Duplicate(famPath.Index(i), f))
		}
		seen.Insert(f)
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil && !supportedFamilyPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), p, sets.List(supportedFamilyPolicies)))
	}
	invalid := false
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				invalid = true
				errs = append(errs, field.Invalid(ipsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		e := validation.IsValidIP(ipsPath.Index(i), ip)
		invalid = invalid || len(e) != 0
		errs = append(errs, e...)
	}
	if len(ips) > 2 {
		errs = append(errs, field.Invalid(ipsPath, ips, "may only hold up to 2 values"))
	}
	if invalid {
		return errs
	}
	if len(ips) == 2 && familyOf(ips[0]) == familyOf(ips[1]) {
		errs = append(errs, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range ips {
			if i >= len(svc.Spec.IPFamilies) {
				break
			}
			if fam := svc.Spec.IPFamilies[i]; fam != familyOf(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%v]`", fam, i)))
			}
		}
	}
	return errs
}

// validateClusterFamilies rejects what a single-stack IPv4 cluster cannot
// serve, with upstream's allocator messages (initIPFamilyFields).
func validateClusterFamilies(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.IPFamilyPolicy == nil {
		return nil
	}
	var errs field.ErrorList
	policy := *svc.Spec.IPFamilyPolicy
	policyPath := specPath.Child("ipFamilyPolicy")
	if policy == corev1.IPFamilyPolicySingleStack {
		if len(svc.Spec.ClusterIPs) == 2 {
			errs = append(errs, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
		}
		if len(svc.Spec.IPFamilies) == 2 {
			errs = append(errs, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone && len(svc.Spec.Selector) == 0 {
		return errs // headless and selectorless may hold any families
	}
	for i, ip := range svc.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone && familyOf(ip) != clusterFamily {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(i), svc.Spec.ClusterIPs, fmt.Sprintf("%s is not configured on this cluster", familyOf(ip))))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if policy == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	for i, f := range svc.Spec.IPFamilies {
		if f != clusterFamily {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(i), f, "not configured on this cluster"))
		}
	}
	return errs
}

func validateLoadBalancerFields(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	lbOnly := "may only be used when `type` is 'LoadBalancer'"
	isLB := svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if len(svc.Spec.LoadBalancerSourceRanges) > 0 {
		p := specPath.Child("LoadBalancerSourceRanges")
		if !isLB {
			errs = append(errs, field.Forbidden(p, lbOnly))
		}
		for i, v := range svc.Spec.LoadBalancerSourceRanges {
			errs = append(errs, validation.IsValidCIDR(p.Index(i), strings.TrimSpace(v))...)
		}
	} else if v, ok := svc.Annotations[corev1.AnnotationLoadBalancerSourceRangesKey]; ok {
		p := field.NewPath("metadata", "annotations").Key(corev1.AnnotationLoadBalancerSourceRangesKey)
		if !isLB {
			errs = append(errs, field.Forbidden(p, lbOnly))
		}
		if v = strings.TrimSpace(v); v != "" {
			for _, c := range strings.Split(v, ",") {
				errs = append(errs, validation.IsValidCIDR(p, strings.TrimSpace(c))...)
			}
		}
	}
	if svc.Spec.AllocateLoadBalancerNodePorts != nil && !isLB {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), lbOnly))
	}
	if isLB && svc.Spec.AllocateLoadBalancerNodePorts == nil {
		// Upstream's path really is rooted here, without "spec".
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	return errs
}

func validateLoadBalancerClass(old, svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	p := specPath.Child("loadBalancerClass")
	isLB := func(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeLoadBalancer }
	if old != nil && isLB(old) && isLB(svc) && !equalStringPtr(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(p, svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	if c := svc.Spec.LoadBalancerClass; c != nil {
		if !isLB(svc) {
			errs = append(errs, field.Forbidden(p, "may only be used when service type is 'LoadBalancer'"))
		}
		for _, m := range validation.IsQualifiedName(*c) {
			errs = append(errs, field.Invalid(p, *c, m))
		}
	}
	return errs
}

func equalStringPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func validateExternalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	p := specPath.Child("externalTrafficPolicy")
	if !externallyAccessible(svc) {
		if svc.Spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(p, svc.Spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else if svc.Spec.ExternalTrafficPolicy == "" {
		errs = append(errs, field.Required(p, ""))
	} else if !supportedExternalPolicy.Has(svc.Spec.ExternalTrafficPolicy) {
		errs = append(errs, field.NotSupported(p, svc.Spec.ExternalTrafficPolicy, sets.List(supportedExternalPolicy)))
	}
	hp := specPath.Child("healthCheckNodePort")
	if !needsHealthCheck(svc) {
		if svc.Spec.HealthCheckNodePort != 0 {
			errs = append(errs, field.Invalid(hp, svc.Spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	} else if svc.Spec.HealthCheckNodePort != 0 {
		for _, m := range validation.IsValidPortNum(int(svc.Spec.HealthCheckNodePort)) {
			errs = append(errs, field.Invalid(hp, svc.Spec.HealthCheckNodePort, m))
		}
	}
	// An unset healthCheckNodePort is allocated after validation.
	return errs
}

func validateInternalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	p := specPath.Child("internalTrafficPolicy")
	itp := svc.Spec.InternalTrafficPolicy
	if itp == nil {
		switch svc.Spec.Type {
		case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeClusterIP:
			return field.ErrorList{field.Required(p, "")}
		}
		return nil
	}
	if !supportedInternalPolicy.Has(*itp) {
		return field.ErrorList{field.NotSupported(p, *itp, sets.List(supportedInternalPolicy))}
	}
	return nil
}

// validateLoadBalancerStatus is upstream ValidateLoadBalancerStatus with the
// default feature gates (status only on LoadBalancer services, ipMode
// required with an ip).
func validateLoadBalancerStatus(svc *corev1.Service) field.ErrorList {
	p := field.NewPath("status", "loadBalancer", "ingress")
	ingress := svc.Status.LoadBalancer.Ingress
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(ingress) != 0 {
		return field.ErrorList{field.Forbidden(p, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	var errs field.ErrorList
	for i, ing := range ingress {
		ip := p.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIP(ip.Child("ip"), ing.IP)...)
		}
		switch {
		case ing.IPMode == nil && ing.IP != "":
			errs = append(errs, field.Required(ip.Child("ipMode"), "must be specified when `ip` is set"))
		case ing.IPMode != nil && ing.IP == "":
			errs = append(errs, field.Forbidden(ip.Child("ipMode"), "may not be specified when `ip` is not set"))
		case ing.IPMode != nil && !supportedIPModes.Has(*ing.IPMode):
			errs = append(errs, field.NotSupported(ip.Child("ipMode"), *ing.IPMode, sets.List(supportedIPModes)))
		}
		if ing.Hostname != "" {
			for _, m := range validation.IsDNS1123Subdomain(ing.Hostname) {
				errs = append(errs, field.Invalid(ip.Child("hostname"), ing.Hostname, m))
			}
			if net.ParseIP(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
