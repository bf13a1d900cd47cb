package service

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	conv := tableConvertor{now: func() time.Time { return now }}
	created := metav1.NewTime(now.Add(-3 * time.Hour))
	tests := map[string]struct {
		mutate func(*corev1.Service)
		want   []any
	}{
		"cluster IP": {
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.1.5", []string{"10.96.1.5"} },
			want:   []any{"web", "ClusterIP", "10.96.1.5", "<none>", "80/TCP", "3h", "app=web"},
		},
		"node port shows port:nodePort": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ClusterIPs = corev1.ServiceTypeNodePort, []string{"10.96.1.6"}
				s.Spec.Ports[0].NodePort = 30080
			},
			want: []any{"web", "NodePort", "10.96.1.6", "<none>", "80:30080/TCP", "3h", "app=web"},
		},
		"load balancer without ingress is pending": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ClusterIPs = corev1.ServiceTypeLoadBalancer, []string{"10.96.1.7"}
			},
			want: []any{"web", "LoadBalancer", "10.96.1.7", "<pending>", "80/TCP", "3h", "app=web"},
		},
		"load balancer lists ingress then external IPs": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ClusterIPs, s.Spec.ExternalIPs = corev1.ServiceTypeLoadBalancer, []string{"10.96.1.7"}, []string{"5.6.7.8"}
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}, {Hostname: "lb.example.com"}}
			},
			want: []any{"web", "LoadBalancer", "10.96.1.7", "1.2.3.4,lb.example.com,5.6.7.8", "80/TCP", "3h", "app=web"},
		},
		"external name, headless selectorless, no ports": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports, s.Spec.Selector = corev1.ServiceTypeExternalName, "example.com", nil, nil
			},
			want: []any{"web", "ExternalName", "<none>", "example.com", "<none>", "3h", "<none>"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
			}
			tc.mutate(svc)
			table, err := conv.ConvertToTable(context.Background(), &corev1.ServiceList{Items: []corev1.Service{*svc}}, &metav1.TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(table.ColumnDefinitions) != 7 || table.ColumnDefinitions[6].Priority != 1 {
				t.Errorf("columns = %+v, want 7 with a wide Selector", table.ColumnDefinitions)
			}
			if diff := cmp.Diff(tc.want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := conv.ConvertToTable(context.Background(), &corev1.Pod{}, nil); err == nil {
		t.Error("want error for a Pod")
	}
}
