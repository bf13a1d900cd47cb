package service

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	unversionedvalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// maxClientIPAffinitySeconds is upstream core.MaxClientIPServiceAffinitySeconds.
const maxClientIPAffinitySeconds = 86400

var (
	supportedSessionAffinity = sets.New(corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)
	supportedTypes           = sets.New(corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	supportedProtocols       = sets.New(corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
	supportedInternalPolicy  = sets.New(corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)
	supportedExternalPolicy  = sets.New(corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)
	supportedFamilies        = sets.New(corev1.IPv4Protocol, corev1.IPv6Protocol)
	supportedFamilyPolicies  = sets.New(corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)
	supportedDistributions   = sets.New(corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode)
	supportedIPModes         = sets.New(corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy)
)

var specPath = field.NewPath("spec")

// validateService is upstream ValidateService.
func validateService(svc *corev1.Service) field.ErrorList {
	errs := skiffvalidation.ValidateObjectMeta(&svc.ObjectMeta, true, apimachineryvalidation.NameIsDNS1035Label, field.NewPath("metadata"))
	if len(svc.Spec.Ports) == 0 && !isHeadless(svc) && svc.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	errs = append(errs, validateTypeSpecific(svc)...)
	names := sets.New[string]()
	for i := range svc.Spec.Ports {
		errs = append(errs, validateServicePort(&svc.Spec.Ports[i], len(svc.Spec.Ports) > 1, names, specPath.Child("ports").Index(i))...)
	}
	if svc.Spec.Selector != nil {
		errs = append(errs, unversionedvalidation.ValidateLabels(svc.Spec.Selector, specPath.Child("selector"))...)
	}
	errs = append(errs, validateSessionAffinity(&svc.Spec)...)
	errs = append(errs, validateClusterIPsRelatedFields(svc)...)
	for i, ip := range svc.Spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		if e := validation.IsValidIP(p, ip); len(e) != 0 {
			errs = append(errs, e...)
		} else {
			errs = append(errs, validateNonSpecialIP(ip, p)...)
		}
	}
	switch {
	case svc.Spec.Type == "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case !supportedTypes.Has(svc.Spec.Type):
		errs = append(errs, field.NotSupported(specPath.Child("type"), svc.Spec.Type, sets.List(supportedTypes)))
	}
	errs = append(errs, validatePortUniqueness(svc)...)
	errs = append(errs, validateLoadBalancerFields(svc)...)
	errs = append(errs, validateLoadBalancerClass(nil, svc)...)
	errs = append(errs, validateExternalTrafficPolicy(svc)...)
	errs = append(errs, validateInternalTrafficPolicy(svc)...)
	if d := svc.Spec.TrafficDistribution; d != nil && !supportedDistributions.Has(*d) {
		errs = append(errs, field.NotSupported(specPath.Child("trafficDistribution"), *d, sets.List(supportedDistributions)))
	}
	return errs
}

func validateTypeSpecific(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), svc.Spec.ClusterIPs[0], fmt.Sprintf("may not be set to 'None' for %s services", svc.Spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		const msg = "may not be set for ExternalName services"
		if len(svc.Spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), msg))
		}
		if len(svc.Spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), msg))
		}
		if svc.Spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), msg))
		}
		if cname := strings.TrimSuffix(svc.Spec.ExternalName, "."); cname != "" {
			for _, m := range validation.IsDNS1123Subdomain(cname) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), cname, m))
			}
		} else {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		}
	}
	return errs
}

// validateServicePort is upstream validateServicePort.
func validateServicePort(sp *corev1.ServicePort, requireName bool, names sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if sp.Name != "" {
		for _, m := range validation.IsDNS1123Label(sp.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), sp.Name, m))
		}
		if names.Has(sp.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
		}
		names.Insert(sp.Name)
	}
	for _, m := range validation.IsValidPortNum(int(sp.Port)) {
		errs = append(errs, field.Invalid(p.Child("port"), sp.Port, m))
	}
	switch {
	case sp.Protocol == "":
		errs = append(errs, field.Required(p.Child("protocol"), ""))
	case !supportedProtocols.Has(sp.Protocol):
		errs = append(errs, field.NotSupported(p.Child("protocol"), sp.Protocol, sets.List(supportedProtocols)))
	}
	errs = append(errs, skiffvalidation.ValidatePortNumOrName(sp.TargetPort, p.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		for _, m := range validation.IsQualifiedName(*sp.AppProtocol) {
			errs = append(errs, field.Invalid(p.Child("appProtocol"), *sp.AppProtocol, m))
		}
	}
	return errs
}

func validateSessionAffinity(spec *corev1.ServiceSpec) field.ErrorList {
	p := specPath.Child("sessionAffinity")
	switch {
	case spec.SessionAffinity == "":
		return field.ErrorList{field.Required(p, "")}
	case !supportedSessionAffinity.Has(spec.SessionAffinity):
		return field.ErrorList{field.NotSupported(p, spec.SessionAffinity, sets.List(supportedSessionAffinity))}
	}
	cp := specPath.Child("sessionAffinityConfig")
	if spec.SessionAffinity == corev1.ServiceAffinityNone {
		if spec.SessionAffinityConfig != nil {
			return field.ErrorList{field.Forbidden(cp, fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone))}
		}
		return nil
	}
	when := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
	c := spec.SessionAffinityConfig
	switch {
	case c == nil:
		return field.ErrorList{field.Required(cp, when)}
	case c.ClientIP == nil:
		return field.ErrorList{field.Required(cp.Child("clientIP"), when)}
	case c.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(cp.Child("clientIP", "timeoutSeconds"), when)}
	case *c.ClientIP.TimeoutSeconds <= 0 || *c.ClientIP.TimeoutSeconds > maxClientIPAffinitySeconds:
		return field.ErrorList{field.Invalid(cp.Child("clientIP", "timeoutSeconds"), c.ClientIP.TimeoutSeconds, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

// validatePortUniqueness: nodePorts only for NodePort/LoadBalancer, and no
// duplicate (protocol, nodePort) or (protocol, port) pairs.
func validatePortUniqueness(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	portsPath := specPath.Child("ports")
	if svc.Spec.Type == corev1.ServiceTypeClusterIP {
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort != 0 {
				errs = append(errs, field.Forbidden(portsPath.Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	type key struct {
		proto corev1.Protocol
		port  int32
	}
	nodePorts, ports := map[key]bool{}, map[key]bool{}
	for i, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			k := key{p.Protocol, p.NodePort}
			if nodePorts[k] {
				errs = append(errs, field.Duplicate(portsPath.Index(i).Child("nodePort"), p.NodePort))
			}
			nodePorts[k] = true
		}
	}
	for i, p := range svc.Spec.Ports {
		k := key{p.Protocol, p.Port}
		if ports[k] {
			// Upstream reports the internal ServicePort key as the value.
			errs = append(errs, field.Duplicate(portsPath.Index(i), corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports[k] = true
	}
	return errs
}

func validateNonSpecialIP(s string, p *field.Path) field.ErrorList {
	ip := net.ParseIP(s)
	if ip == nil {
		return field.ErrorList{field.Invalid(p, s, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(p, s, fmt.Sprintf("may not be unspecified (%v)", s)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(p, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(p, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(p, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func familyOf(ip string) corev1.IPFamily {
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}
