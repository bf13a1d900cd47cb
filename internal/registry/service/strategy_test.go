package service

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	sort.Strings(out)
	return out
}

// newService returns a defaulted, prepared ClusterIP Service.
func newService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	SetDefaults(svc)
	Strategy.PrepareForCreate(context.Background(), svc)
	return svc
}

func ptrTo[T any](v T) *T { return &v }

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	svc := &corev1.Service{Spec: corev1.ServiceSpec{
		Ports:           []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}},
		SessionAffinity: corev1.ServiceAffinityClientIP,
	}}
	SetDefaults(svc)
	want := corev1.ServiceSpec{
		Ports: []corev1.ServicePort{
			{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
			{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
		},
		Type:                  corev1.ServiceTypeClusterIP,
		SessionAffinity:       corev1.ServiceAffinityClientIP,
		SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(int32(10800))}},
		InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
	}
	if diff := cmp.Diff(want, svc.Spec); diff != "" {
		t.Errorf("SetDefaults (-want +got):\n%s", diff)
	}
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	SetDefaults(lb)
	if lb.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || lb.Spec.AllocateLoadBalancerNodePorts == nil || !*lb.Spec.AllocateLoadBalancerNodePorts {
		t.Errorf("LoadBalancer defaults: %+v", lb.Spec)
	}
}

func TestStrategy_PrepareForCreate_IPFamilies(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate     func(*corev1.Service)
		wantPolicy *corev1.IPFamilyPolicy
		wantFams   []corev1.IPFamily
		wantIPs    []string
	}{
		"a plain service is single-stack IPv4": {
			wantPolicy: ptrTo(corev1.IPFamilyPolicySingleStack), wantFams: []corev1.IPFamily{"IPv4"},
		},
		"an explicit clusterIP fills clusterIPs": {
			mutate:     func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.9" },
			wantPolicy: ptrTo(corev1.IPFamilyPolicySingleStack), wantFams: []corev1.IPFamily{"IPv4"}, wantIPs: []string{"10.96.0.9"},
		},
		"headless without selector requires dual stack, as upstream": {
			mutate:     func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Selector = "None", nil },
			wantPolicy: ptrTo(corev1.IPFamilyPolicyRequireDualStack), wantFams: []corev1.IPFamily{"IPv4", "IPv6"}, wantIPs: []string{"None"},
		},
		"external name gets no families": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := newService(tc.mutate)
			if diff := cmp.Diff(tc.wantPolicy, svc.Spec.IPFamilyPolicy); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantFams, svc.Spec.IPFamilies); diff != "" {
				t.Errorf("families (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantIPs, svc.Spec.ClusterIPs); diff != "" {
				t.Errorf("clusterIPs (-want +got):\n%s", diff)
			}
			if errs := Strategy.Validate(context.Background(), svc); len(errs) != 0 {
				t.Errorf("Validate() = %v, want none", errs)
			}
		})
	}
}

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*corev1.Service)
		want   []string
	}{
		"a valid service passes": {},
		"a name that is not a DNS-1035 label is rejected": {
			mutate: func(s *corev1.Service) { s.Name = "1web" },
			want:   []string{`metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
		},
		"ports are required": {
			mutate: func(s *corev1.Service) { s.Spec.Ports = nil },
			want:   []string{"spec.ports: Required value"},
		},
		"a headless service needs no ports": {
			mutate: func(s *corev1.Service) { s.Spec.Ports, s.Spec.ClusterIP = nil, "None" },
		},
		"several ports need names, unique ones": {
			mutate: func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Port: 80}, {Name: "a", Port: 81}, {Name: "a", Port: 82}}
			},
			want: []string{`spec.ports[0].name: Required value`, `spec.ports[2].name: Duplicate value: "a"`},
		},
		"a port out of range is rejected": {
			mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			want: []string{
				"spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
				"spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
			},
		},
		"the same port and protocol twice is a duplicate": {
			mutate: func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
			},
			want: []string{`spec.ports[1]: Duplicate value: {"protocol":"TCP","port":80,"targetPort":0}`},
		},
		"a nodePort on a ClusterIP service is forbidden": {
			mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 },
			want:   []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		},
		"an unknown type is not supported": {
			mutate: func(s *corev1.Service) { s.Spec.Type = "Magic" },
			want:   []string{`spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		},
		"an external name service needs its name": {
			mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
			want:   []string{"spec.externalName: Required value"},
		},
		"an invalid clusterIP is rejected": {
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" },
			want:   []string{`spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		},
		"dual stack cannot be required on this cluster": {
			mutate: func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack) },
			want:   []string{`spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`},
		},
		"IPv6 is not configured": {
			mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			want:   []string{`spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), newService(tc.mutate)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := newService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Type = "10.96.1.1", corev1.ServiceTypeNodePort })
	old.Spec.Ports[0].NodePort = 30080
	old.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "x"}}

	// A manifest without the allocated values keeps them.
	put := &corev1.Service{ObjectMeta: old.ObjectMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: old.Spec.Selector, Ports: []corev1.ServicePort{{Port: 80}}}}
	SetDefaults(put)
	Strategy.PrepareForUpdate(ctx, put, old)
	if put.Spec.ClusterIP != "10.96.1.1" || put.Spec.Ports[0].NodePort != 30080 || len(put.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("patched spec = %+v status %+v; want clusterIP, nodePort kept and LB status cleared", put.Spec, put.Status)
	}
	if errs := Strategy.ValidateUpdate(ctx, put, old); len(errs) != 0 {
		t.Errorf("ValidateUpdate() = %v", errs)
	}

	// Switching to ExternalName drops the IP fields and node ports.
	ext := old.DeepCopy()
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
	Strategy.PrepareForUpdate(ctx, ext, old)
	if ext.Spec.ClusterIP != "" || ext.Spec.ClusterIPs != nil || ext.Spec.IPFamilies != nil || ext.Spec.IPFamilyPolicy != nil || ext.Spec.Ports[0].NodePort != 0 {
		t.Errorf("after switch to ExternalName: %+v", ext.Spec)
	}

	changed := old.DeepCopy()
	changed.Spec.ClusterIP, changed.Spec.ClusterIPs = "10.96.1.2", []string{"10.96.1.2"}
	Strategy.PrepareForUpdate(ctx, changed, old)
	want := []string{`spec.clusterIPs[0]: Invalid value: ["10.96.1.2"]: may not change once set`}
	if diff := cmp.Diff(want, errStrings(Strategy.ValidateUpdate(ctx, changed, old))); diff != "" {
		t.Errorf("ValidateUpdate(changed clusterIP) (-want +got):\n%s", diff)
	}
}

func TestStatusStrategy_PrepareForUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := newService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	svc := old.DeepCopy()
	svc.Spec.Selector = map[string]string{"changed": "yes"}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	StatusStrategy.PrepareForUpdate(ctx, svc, old)
	if svc.Spec.Selector["changed"] != "" {
		t.Errorf("status update changed the spec: %v", svc.Spec.Selector)
	}
	want := []string{"status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set"}
	if diff := cmp.Diff(want, errStrings(StatusStrategy.ValidateUpdate(ctx, svc, old))); diff != "" {
		t.Errorf("ValidateUpdate (-want +got):\n%s", diff)
	}
	clusterIP := newService(nil)
	withLB := clusterIP.DeepCopy()
	withLB.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}
	want = []string{"status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"}
	if diff := cmp.Diff(want, errStrings(StatusStrategy.ValidateUpdate(ctx, withLB, clusterIP))); diff != "" {
		t.Errorf("ValidateUpdate on ClusterIP (-want +got):\n%s", diff)
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	svc := newService(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" })
	_, f, err := GetAttrs(svc)
	if err != nil {
		t.Fatal(err)
	}
	want := fields.Set{"metadata.name": "web", "metadata.namespace": "default", "spec.clusterIP": "10.96.0.10", "spec.type": "ClusterIP"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&corev1.Pod{}); err == nil {
		t.Error("GetAttrs(Pod) returned no error")
	}
}
