package pod

import (
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// SetDefaults applies upstream's defaulting to a Pod
// (k8s.io/kubernetes pkg/apis/core/v1 SetObjectDefaults_Pod): the pod-only
// rules of SetDefaults_Pod (requests copied from limits, enableServiceLinks,
// host-network ports), the PodSpec rules, and the status IP normalisation
// that upstream's v1<->internal conversion performs on every round trip.
// It is idempotent.
func SetDefaults(pod *corev1.Pod) {
	if pod == nil {
		return
	}
	defaultRequestsFromLimits(pod.Spec.Containers)
	defaultRequestsFromLimits(pod.Spec.InitContainers)
	if pod.Spec.EnableServiceLinks == nil {
		enable := corev1.DefaultEnableServiceLinks
		pod.Spec.EnableServiceLinks = &enable
	}
	if pod.Spec.HostNetwork {
		defaultHostNetworkPorts(pod.Spec.Containers)
		defaultHostNetworkPorts(pod.Spec.InitContainers)
	}
	SetDefaultsPodSpec(&pod.Spec)
	setDefaultsPodStatus(&pod.Status)
}

// SetDefaultsPodTemplateSpec applies upstream's defaulting to a pod template
// embedded in another object (a Job's spec.template): only the PodSpec rules,
// as upstream's generated defaulters do for templates. Pod-only rules
// (enableServiceLinks, requests from limits) are applied when the Pod itself
// is created. It is idempotent.
func SetDefaultsPodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	SetDefaultsPodSpec(&t.Spec)
}

// SetDefaultsPodSpec applies upstream's SetDefaults_PodSpec and the defaults
// of every nested type (containers, volumes, probes, env field refs,
// resource quantities). It is idempotent.
func SetDefaultsPodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		period := int64(corev1.DefaultTerminationGracePeriodSeconds)
		spec.TerminationGracePeriodSeconds = &period
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	// Upstream's conversion keeps the deprecated serviceAccount field equal
	// to serviceAccountName (and reads it when serviceAccountName is empty).
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Volumes {
		setDefaultsVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		setDefaultsContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		setDefaultsContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		setDefaultsContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	setDefaultsResourceList(spec.Overhead)
	if spec.Resources != nil {
		setDefaultsResourceList(spec.Resources.Limits)
		setDefaultsResourceList(spec.Resources.Requests)
	}
}

// defaultRequestsFromLimits copies each limit into requests when the request
// for that resource is absent (upstream SetDefaults_Pod).
func defaultRequestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(corev1.ResourceList, len(res.Limits))
		}
		for name, limit := range res.Limits {
			if _, ok := res.Requests[name]; !ok {
				res.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

// defaultHostNetworkPorts makes every container port a host port when the
// pod uses the host network.
func defaultHostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if containers[i].Ports[j].HostPort == 0 {
				containers[i].Ports[j].HostPort = containers[i].Ports[j].ContainerPort
			}
		}
	}
}

// setDefaultsContainer is upstream's SetDefaults_Container plus the generated
// defaulting of the container's nested types.
func setDefaultsContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if c.Env[i].ValueFrom != nil && c.Env[i].ValueFrom.FieldRef != nil {
			setDefaultsObjectFieldSelector(c.Env[i].ValueFrom.FieldRef)
		}
	}
	setDefaultsResourceList(c.Resources.Limits)
	setDefaultsResourceList(c.Resources.Requests)
	setDefaultsProbe(c.LivenessProbe)
	setDefaultsProbe(c.ReadinessProbe)
	setDefaultsProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		setDefaultsLifecycleHandler(c.Lifecycle.PostStart)
		setDefaultsLifecycleHandler(c.Lifecycle.PreStop)
	}
}

// imageTag returns the tag upstream's parsers.ParseImageName derives:
// "latest" when neither tag nor digest is given, "" when the reference does
// not parse.
func imageTag(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	if tagged, ok := named.(reference.Tagged); ok && tagged.Tag() != "" {
		return tagged.Tag()
	}
	if _, ok := named.(reference.Digested); ok {
		return ""
	}
	return "latest"
}

func setDefaultsProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	setDefaultsHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		service := ""
		p.GRPC.Service = &service
	}
}

func setDefaultsLifecycleHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		setDefaultsHTTPGet(h.HTTPGet)
	}
}

func setDefaultsHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func setDefaultsObjectFieldSelector(s *corev1.ObjectFieldSelector) {
	if s.APIVersion == "" {
		s.APIVersion = "v1"
	}
}

// setDefaultsResourceList rounds every quantity up to milli scale, as
// upstream's SetDefaults_ResourceList does.
func setDefaultsResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(-3)
		list[name] = q
	}
}

// setDefaultsPodStatus reproduces the podIP/podIPs and hostIP/hostIPs
// normalisation of upstream's v1<->internal PodStatus conversion: the
// singular field wins when both are set and differ, fills the list when it is
// empty, and is then set from the first list entry.
func setDefaultsPodStatus(s *corev1.PodStatus) {
	if s.PodIP != "" && (len(s.PodIPs) == 0 || s.PodIPs[0].IP != s.PodIP) {
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	}
	if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	}
	if s.HostIP != "" && (len(s.HostIPs) == 0 || s.HostIPs[0].IP != s.HostIP) {
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if len(s.HostIPs) > 0 {
		s.HostIP = s.HostIPs[0].IP
	}
}
