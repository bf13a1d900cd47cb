package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage"
)

func newTestAllocator(t *testing.T, cidr string) (*Allocator, storage.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	etcd, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: t.TempDir(), CompactionRetention: -1})
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(etcd.Close)
	st := storage.NewEtcd(etcd.Client(), "/registry")
	a, err := NewAllocator(AllocatorConfig{Storage: st, ServiceCIDR: netip.MustParsePrefix(cidr), NodePorts: PortRange{Base: 30000, Size: 20}})
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

func admitted(t *testing.T, a *Allocator, name string, mutate func(*corev1.Service)) (*corev1.Service, error) {
	t.Helper()
	svc := newService(func(s *corev1.Service) {
		s.Name, s.UID = name, types.UID("uid-"+name)
		if mutate != nil {
			mutate(s)
		}
	})
	return svc, a.Admit(context.Background(), svc, nil)
}

// store writes svc through the allocator's storage, as the services store does.
func store(t *testing.T, a *Allocator, svc *corev1.Service) {
	t.Helper()
	data, err := runtimeEncode(svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Storage().Create(context.Background(), servicesKeyRoot+svc.Namespace+"/"+svc.Name, data); err != nil {
		t.Fatal(err)
	}
}

// runtimeEncode encodes svc as the generic store stores it (protobuf).
func runtimeEncode(svc *corev1.Service) ([]byte, error) {
	ps := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	return runtime.Encode(scheme.Codecs.EncoderForVersion(ps, corev1.SchemeGroupVersion), svc)
}

func TestNewAllocator_Config(t *testing.T) {
	t.Parallel()
	if _, err := NewAllocator(AllocatorConfig{}); err == nil {
		t.Error("want error without storage")
	}
	a, _ := newTestAllocator(t, "10.96.0.0/12")
	if got := a.KubernetesServiceIP().String(); got != "10.96.0.1" {
		t.Errorf("KubernetesServiceIP = %s, want 10.96.0.1", got)
	}
	if _, err := NewAllocator(AllocatorConfig{Storage: a.st, ServiceCIDR: netip.MustParsePrefix("fd00::/108")}); err == nil {
		t.Error("want error for an IPv6 range")
	}
}

func TestAllocator_Admit_ConcurrentUnique(t *testing.T) {
	t.Parallel()
	// A /27 has 30 usable addresses, 16 of them in the static band: the
	// scan fallback is exercised too.
	a, _ := newTestAllocator(t, "10.0.0.0/27")
	const n = 30
	ips := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			svc, err := admitted(t, a, fmt.Sprintf("s%d", i), nil)
			if err != nil {
				t.Errorf("s%d: %v", i, err)
				return
			}
			ips[i] = svc.Spec.ClusterIP
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, ip := range ips {
		if seen[ip] {
			t.Errorf("s%d got %s twice", i, ip)
		}
		seen[ip] = true
		if !a.inRange(netip.MustParseAddr(ip)) {
			t.Errorf("s%d got %s outside the range", i, ip)
		}
	}
	_, err := admitted(t, a, "full", nil)
	if !apierrors.IsInternalError(err) || err.Error() != "Internal error occurred: failed to allocate a serviceIP: range is full" {
		t.Errorf("allocating from a full range: %v", err)
	}
}

func TestAllocator_Admit_Explicit(t *testing.T) {
	t.Parallel()
	a, _ := newTestAllocator(t, "10.96.0.0/12")
	explicit := func(ip string) func(*corev1.Service) { return func(s *corev1.Service) { s.Spec.ClusterIP = ip } }
	if _, err := admitted(t, a, "a", explicit("10.96.0.10")); err != nil {
		t.Fatal(err)
	}
	// The same owner again (a retried write) is fine.
	if _, err := admitted(t, a, "a", explicit("10.96.0.10")); err != nil {
		t.Errorf("re-admitting the owner: %v", err)
	}
	tests := map[string]struct{ ip, want string }{
		"taken":        {"10.96.0.10", `Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10: provided IP is already allocated`},
		"out of range": {"10.112.0.1", `Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.112.0.1"]: failed to allocate IP 10.112.0.1: provided IP 10.112.0.1 is not in the valid range`},
		"network":      {"10.96.0.0", `Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.0"]: failed to allocate IP 10.96.0.0: provided IP 10.96.0.0 is not in the valid range`},
		"broadcast":    {"10.111.255.255", `Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.111.255.255"]: failed to allocate IP 10.111.255.255: provided IP 10.111.255.255 is not in the valid range`},
	}
	for name, tc := range tests {
		_, err := admitted(t, a, "b", explicit(tc.ip))
		if !apierrors.IsInvalid(err) || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
	headless, err := admitted(t, a, "h", explicit("None"))
	if err != nil || headless.Spec.ClusterIP != "None" {
		t.Errorf("headless: %v %q", err, headless.Spec.ClusterIP)
	}
}

func TestAllocator_Admit_NodePorts(t *testing.T) {
	t.Parallel()
	a, _ := newTestAllocator(t, "10.96.0.0/12")
	np := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports = []corev1.ServicePort{{Name: "tcp", Port: 53, Protocol: corev1.ProtocolTCP}, {Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP}}
	}
	svc, err := admitted(t, a, "dns", np)
	if err != nil {
		t.Fatal(err)
	}
	p := svc.Spec.Ports
	if p[0].NodePort < 30000 || p[0].NodePort >= 30020 || p[0].NodePort != p[1].NodePort {
		t.Errorf("node ports %d/%d: want one shared port in 30000-30019", p[0].NodePort, p[1].NodePort)
	}
	_, err = admitted(t, a, "dup", func(s *corev1.Service) { np(s); s.Spec.Ports[0].NodePort = p[0].NodePort })
	want := fmt.Sprintf(`Service "dup" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, p[0].NodePort)
	if err == nil || err.Error() != want {
		t.Errorf("duplicate node port: %v, want %s", err, want)
	}
	// The failed admission released the cluster IP it had claimed.
	claimed, err := a.claimedSet(context.Background(), ipClaimRoot)
	if err != nil || len(claimed) != 1 {
		t.Errorf("IP claims after a failed admission = %v, %v; want only dns's", claimed, err)
	}
}

func TestAllocator_Storage_ReleasesOnDelete(t *testing.T) {
	t.Parallel()
	a, _ := newTestAllocator(t, "10.96.0.0/12")
	ctx := context.Background()
	svc, err := admitted(t, a, "a", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" })
	if err != nil {
		t.Fatal(err)
	}
	store(t, a, svc)
	if _, _, err := a.Storage().Delete(ctx, servicesKeyRoot+"default/a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := admitted(t, a, "b", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" }); err != nil {
		t.Errorf("IP not released by the delete: %v", err)
	}
}

func TestAllocator_Repair(t *testing.T) {
	t.Parallel()
	a, st := newTestAllocator(t, "10.96.0.0/12")
	ctx := context.Background()
	// A leaked claim (a dry run, or a crash before the Service was stored).
	if _, err := admitted(t, a, "leak", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.30" }); err != nil {
		t.Fatal(err)
	}
	// A stored Service whose claim is missing.
	svc, err := admitted(t, a, "kept", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.31" })
	if err != nil {
		t.Fatal(err)
	}
	store(t, a, svc)
	if _, _, err := st.Delete(ctx, ipKey("10.96.0.31"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, ipKey("10.96.0.30")); err != nil {
		t.Errorf("first pass released the leak already (or failed): %v", err)
	}
	if kv, err := st.Get(ctx, ipKey("10.96.0.31")); err != nil || string(kv.Value) != "uid-kept" {
		t.Errorf("missing claim not restored: %v %q", err, kv.Value)
	}
	if err := a.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, ipKey("10.96.0.30")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second pass kept the leak: %v", err)
	}
	if _, err := st.Get(ctx, ipKey("10.96.0.31")); err != nil {
		t.Errorf("second pass released a live claim: %v", err)
	}
}
