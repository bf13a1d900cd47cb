package node

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// masterService is the Service every pod gets variables for, whatever its
// enableServiceLinks.
const masterService = "kubernetes"

// serviceEnv is the kubelet's getServiceEnvVarMap: variables for the
// kubernetes Service of the default namespace, and for each Service of the
// pod's namespace when enableServiceLinks is on. Pods share the host's
// network and Skiff runs no service proxy, so the kubernetes Service's
// variables carry the address pods reach the API at (Config.APIServerHost
// and APIServerPort) instead of its cluster IP: in-cluster clients work.
func (a *Agent) serviceEnv(pod *corev1.Pod) (map[string]string, error) {
	if !a.servicesSynced() {
		return nil, fmt.Errorf("services have not yet been read at least once, cannot construct envvars")
	}
	services, err := a.serviceLister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		switch {
		case s.Namespace == metav1.NamespaceDefault && s.Name == masterService:
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = a.reachable(s)
			}
		case s.Namespace == pod.Namespace && links:
			chosen[s.Name] = s
		}
	}
	env := map[string]string{}
	for _, s := range chosen {
		serviceVars(s, env)
	}
	return env, nil
}

// reachable returns the kubernetes Service with the API's real address.
func (a *Agent) reachable(s *corev1.Service) *corev1.Service {
	if a.cfg.APIServerHost == "" || a.cfg.APIServerPort == 0 {
		return s
	}
	s = s.DeepCopy()
	s.Spec.ClusterIP = a.cfg.APIServerHost
	s.Spec.Ports = s.Spec.Ports[:1]
	s.Spec.Ports[0].Port = int32(a.cfg.APIServerPort)
	return s
}

// serviceVars adds a Service's variables as the kubelet's
// envvars.FromServices: NAME_SERVICE_HOST, NAME_SERVICE_PORT (and one per
// named port), and Docker's link variables.
func serviceVars(s *corev1.Service, env map[string]string) {
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	ip := s.Spec.ClusterIP
	env[prefix+"_SERVICE_HOST"] = ip
	env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			env[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
		}
	}
	for i, p := range s.Spec.Ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != "" {
			proto = string(p.Protocol)
		}
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
		if i == 0 {
			env[prefix+"_PORT"] = url
		}
		portPrefix := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		env[portPrefix] = url
		env[portPrefix+"_PROTO"] = strings.ToLower(proto)
		env[portPrefix+"_PORT"] = strconv.Itoa(int(p.Port))
		env[portPrefix+"_ADDR"] = ip
	}
}
