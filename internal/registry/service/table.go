package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// tableConvertor renders Services as upstream's printService does (server
// side, so the wide SELECTOR column is always filled).
type tableConvertor struct {
	now func() time.Time
}

// TableConvertor renders Services and ServiceLists as a meta.k8s.io Table.
var TableConvertor = tableConvertor{now: time.Now}

var _ generic.TableConvertor = tableConvertor{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
	{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
	{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
	{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	{Name: "Selector", Type: "string", Priority: 1, Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]},
}

func (c tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return generic.Table(obj, opts, columns, corev1.SchemeGroupVersion.WithKind("Service"),
		func(l *corev1.ServiceList) []corev1.Service { return l.Items },
		func(o *corev1.Service) metav1.TableRow { return row(o, now()) })
}

func row(svc *corev1.Service, now time.Time) metav1.TableRow {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	ports := portString(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	return metav1.TableRow{
		Cells: []any{svc.Name, string(svc.Spec.Type), clusterIP, externalIP(svc), ports,
			generic.HumanAge(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector)},
		Object: runtime.RawExtension{Object: svc},
	}
}

// externalIP is upstream's getServiceExternalIP with wide output.
func externalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerIPs(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(lb, svc.Spec.ExternalIPs...), ",")
		}
		if len(lb) > 0 {
			return strings.Join(lb, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerIPs lists the ingress IPs (or host names), sorted and unique.
func loadBalancerIPs(s corev1.LoadBalancerStatus) []string {
	var out []string
	for _, ing := range s.Ingress {
		switch {
		case ing.IP != "":
			out = append(out, ing.IP)
		case ing.Hostname != "":
			out = append(out, ing.Hostname)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// portString is upstream's makePortString: 443/TCP, 80:30080/TCP.
func portString(ports []corev1.ServicePort) string {
	pieces := make([]string, 0, len(ports))
	for _, p := range ports {
		if p.NodePort > 0 {
			pieces = append(pieces, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
		} else {
			pieces = append(pieces, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	return strings.Join(pieces, ",")
}
