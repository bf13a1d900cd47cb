package integration

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/internal/testserver"
)

var serviceCIDR = netip.MustParsePrefix("10.96.0.0/12")

func baseService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

func TestServices_KubernetesService_Bootstrap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := testserver.Start(t, testserver.Options{DataDir: dir, APIOnly: true})
	svc, err := ts.Client.CoreV1().Services("default").Get(testCtx(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get kubernetes service: %v", err)
	}
	port := mustPort(t, ts.URL())
	want := corev1.ServiceSpec{
		Ports:                 []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(port))}},
		ClusterIP:             "10.96.0.1",
		ClusterIPs:            []string{"10.96.0.1"},
		Type:                  corev1.ServiceTypeClusterIP,
		SessionAffinity:       corev1.ServiceAffinityNone,
		IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
		IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
		InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
	}
	if diff := cmp.Diff(want, svc.Spec); diff != "" {
		t.Errorf("kubernetes service spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"component": "apiserver", "provider": "kubernetes"}, svc.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// A restart on the same data keeps the same object.
	if err := ts.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ts2 := testserver.Start(t, testserver.Options{DataDir: dir, APIOnly: true})
	again, err := ts2.Client.CoreV1().Services("default").Get(testCtx(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if again.UID != svc.UID || again.Spec.ClusterIP != "10.96.0.1" {
		t.Errorf("after restart: uid %s ip %s, want uid %s ip 10.96.0.1", again.UID, again.Spec.ClusterIP, svc.UID)
	}
	if got := again.Spec.Ports[0].TargetPort.IntValue(); got != mustPort(t, ts2.URL()) {
		t.Errorf("targetPort after restart = %d, want the new port %d", got, mustPort(t, ts2.URL()))
	}
}

func mustPort(t *testing.T, url string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(url[len("https://"):])
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return int(ap.Port())
}

func TestServices_CRUD(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx, svcs := testCtx(t), ts.Client.CoreV1().Services("default")
	created, err := svcs.Create(ctx, baseService("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ip := netip.MustParseAddr(created.Spec.ClusterIP)
	if !serviceCIDR.Contains(ip) || ip == netip.MustParseAddr("10.96.0.1") {
		t.Errorf("clusterIP %s not a dynamic address of %s", ip, serviceCIDR)
	}
	wantPorts := []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
	if diff := cmp.Diff(wantPorts, created.Spec.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{created.Spec.ClusterIP}, created.Spec.ClusterIPs); diff != "" {
		t.Errorf("clusterIPs (-want +got):\n%s", diff)
	}
	// A PUT of the original manifest (no clusterIP) keeps the address.
	put := baseService("web")
	put.ResourceVersion = created.ResourceVersion
	put.Labels = map[string]string{"tier": "front"}
	updated, err := svcs.Update(ctx, put, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update without clusterIP: %v", err)
	}
	if updated.Spec.ClusterIP != created.Spec.ClusterIP {
		t.Errorf("clusterIP changed on update: %s -> %s", created.Spec.ClusterIP, updated.Spec.ClusterIP)
	}
	changed := updated.DeepCopy()
	changed.Spec.ClusterIP, changed.Spec.ClusterIPs = "10.96.7.7", []string{"10.96.7.7"}
	_, err = svcs.Update(ctx, changed, metav1.UpdateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		fmt.Sprintf(`Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.7.7"]: may not change once set`))
	list, err := svcs.List(ctx, metav1.ListOptions{FieldSelector: "spec.clusterIP=" + created.Spec.ClusterIP})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "web" {
		t.Fatalf("list by spec.clusterIP = %v, %v; want web", list, err)
	}
	status := updated.DeepCopy()
	status.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Test", LastTransitionTime: metav1.Now()}}
	status.Spec.Selector = map[string]string{"ignored": "yes"}
	afterStatus, err := svcs.UpdateStatus(ctx, status, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if len(afterStatus.Status.Conditions) != 1 || afterStatus.Spec.Selector["ignored"] != "" {
		t.Errorf("status update: conditions %v selector %v; want the condition and the old selector", afterStatus.Status.Conditions, afterStatus.Spec.Selector)
	}
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := svcs.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func TestServices_Create_ConcurrentUniqueIPs(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx, svcs := testCtx(t), ts.Client.CoreV1().Services("default")
	const n = 24
	ips := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			svc := baseService("c" + strconv.Itoa(i))
			if i%2 == 0 {
				// Half ask for the same explicit address: exactly one wins.
				svc.Spec.ClusterIP = "10.96.3.3"
			}
			out, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
			if err == nil {
				ips[i] = out.Spec.ClusterIP
			}
			errs[i] = err
		})
	}
	wg.Wait()
	seen, winners := map[string]string{}, 0
	for i := range n {
		if i%2 == 0 {
			if errs[i] == nil {
				winners++
			} else if !apierrors.IsInvalid(errs[i]) {
				t.Errorf("c%d: %v, want success or 422", i, errs[i])
			}
		} else if errs[i] != nil {
			t.Fatalf("c%d: %v", i, errs[i])
		}
		if ips[i] == "" {
			continue
		}
		if other, dup := seen[ips[i]]; dup {
			t.Errorf("c%d and %s both got %s", i, other, ips[i])
		}
		seen[ips[i]] = "c" + strconv.Itoa(i)
	}
	if winners != 1 {
		t.Errorf("%d creates got 10.96.3.3, want exactly 1", winners)
	}
}

func TestServices_Create_ExplicitIPs(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx, svcs := testCtx(t), ts.Client.CoreV1().Services("default")
	explicit := func(name, ip string) *corev1.Service {
		s := baseService(name)
		s.Spec.ClusterIP = ip
		return s
	}
	if _, err := svcs.Create(ctx, explicit("a", "10.96.5.5"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a: %v", err)
	}
	_, err := svcs.Create(ctx, explicit("b", "10.96.5.5"), metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		`Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.5.5"]: failed to allocate IP 10.96.5.5: provided IP is already allocated`)
	_, err = svcs.Create(ctx, explicit("c", "10.200.0.1"), metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		`Service "c" is invalid: spec.clusterIPs: Invalid value: ["10.200.0.1"]: failed to allocate IP 10.200.0.1: provided IP 10.200.0.1 is not in the valid range`)
	_, err = svcs.Create(ctx, explicit("d", "10.96.0.1"), metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		`Service "d" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.1"]: failed to allocate IP 10.96.0.1: provided IP is already allocated`)
	// Deleting a releases its address at once.
	if err := svcs.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete a: %v", err)
	}
	if _, err := svcs.Create(ctx, explicit("b", "10.96.5.5"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("reusing a released IP: %v", err)
	}
	// A failed create (name taken) releases the address it claimed.
	if _, err := svcs.Create(ctx, explicit("b", "10.96.6.6"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second b: %v, want AlreadyExists", err)
	}
	if _, err := svcs.Create(ctx, explicit("e", "10.96.6.6"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("IP of a failed create is still claimed: %v", err)
	}
}

func TestServices_Create_Kinds(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx, svcs := testCtx(t), ts.Client.CoreV1().Services("default")
	headless := baseService("headless")
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	out, err := svcs.Create(ctx, headless, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("headless: %v", err)
	}
	if diff := cmp.Diff([]string{"None"}, out.Spec.ClusterIPs); diff != "" {
		t.Errorf("headless clusterIPs (-want +got):\n%s", diff)
	}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	out, err = svcs.Create(ctx, ext, metav1.CreateOptions{})
	if err != nil || out.Spec.ClusterIP != "" || out.Spec.IPFamilyPolicy != nil {
		t.Fatalf("external name: %v, clusterIP %q policy %v; want no IP fields", err, out.Spec.ClusterIP, out.Spec.IPFamilyPolicy)
	}
	np := baseService("np")
	np.Spec.Type = corev1.ServiceTypeNodePort
	out, err = svcs.Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node port: %v", err)
	}
	if p := out.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
		t.Errorf("nodePort %d outside 30000-32767", p)
	}
	dup := baseService("np2")
	dup.Spec.Type = corev1.ServiceTypeNodePort
	dup.Spec.Ports[0].NodePort = out.Spec.Ports[0].NodePort
	_, err = svcs.Create(ctx, dup, metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		fmt.Sprintf(`Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, out.Spec.Ports[0].NodePort))
	dup.Spec.Ports[0].NodePort = 8080
	_, err = svcs.Create(ctx, dup, metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		`Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767`)
	noPorts := baseService("noports")
	noPorts.Spec.Ports = nil
	_, err = svcs.Create(ctx, noPorts, metav1.CreateOptions{})
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid, `Service "noports" is invalid: spec.ports: Required value`)
}

func TestServices_Get_Table(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	r := do(t, ts, request{Method: "GET", Path: "/api/v1/namespaces/default/services/kubernetes",
		Accept: "application/json;as=Table;v=v1;g=meta.k8s.io"})
	var table metav1.Table
	r.into(t, &table)
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}, headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d, want 1", len(table.Rows))
	}
	cells := table.Rows[0].Cells
	if diff := cmp.Diff([]any{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"}, cells[:5]); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	if cells[6] != "<none>" {
		t.Errorf("selector cell = %v, want <none>", cells[6])
	}
}

func TestServices_NamespaceDeletion_ReleasesIPs(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, testserver.Options{Runtime: "fake"})
	ctx := testCtx(t)
	createNamespace(t, ts, "svc-gone")
	svc := baseService("web")
	svc.Spec.ClusterIP = "10.96.9.9"
	if _, err := ts.Client.CoreV1().Services("svc-gone").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := ts.Client.CoreV1().Namespaces().Delete(ctx, "svc-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
		_, err := ts.Client.CoreV1().Namespaces().Get(ctx, "svc-gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	again := baseService("web")
	again.Spec.ClusterIP = "10.96.9.9"
	if _, err := ts.Client.CoreV1().Services("default").Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the namespace's service IP was not released: %v", err)
	}
}

// dryRun=All answers as a real create would (the IP it would get, or why
// not) and keeps nothing: the address is free for the next create.
func TestServices_Create_DryRunKeepsNoAddress(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx, svcs := testCtx(t), ts.Client.CoreV1().Services("default")
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

	dyn, err := svcs.Create(ctx, baseService("dry-dynamic"), dryRun)
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if dyn.Spec.ClusterIP == "" || dyn.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("dry-run create got cluster IP %q, want an address", dyn.Spec.ClusterIP)
	}
	explicit := baseService("dry-explicit")
	explicit.Spec.ClusterIP = "10.96.7.7"
	if _, err := svcs.Create(ctx, explicit, dryRun); err != nil {
		t.Fatalf("dry-run create with an explicit IP: %v", err)
	}
	for _, ip := range []string{dyn.Spec.ClusterIP, "10.96.7.7"} {
		real := baseService("real-" + strings.ReplaceAll(ip, ".", "-"))
		real.Spec.ClusterIP = ip
		if _, err := svcs.Create(ctx, real, metav1.CreateOptions{}); err != nil {
			t.Errorf("the address %s of a dry run is still claimed: %v", ip, err)
		}
	}
	// A dry run still reports a taken address.
	taken := baseService("dry-taken")
	taken.Spec.ClusterIP = "10.96.7.7"
	_, err = svcs.Create(ctx, taken, dryRun)
	expectAPIError(t, err, 422, metav1.StatusReasonInvalid,
		`Service "dry-taken" is invalid: spec.clusterIPs: Invalid value: ["10.96.7.7"]: failed to allocate IP 10.96.7.7: provided IP is already allocated`)
}
