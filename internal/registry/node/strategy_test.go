package node

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
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

func newNode(mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
		},
	}
	if mutate != nil {
		mutate(n)
	}
	return n
}

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   *corev1.Node
		want corev1.NodeStatus
	}{
		"allocatable defaults to capacity": {
			in: &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
			want: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
		},
		"quantities are rounded up to milli-units": {
			in: &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100u")}}},
			want: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")},
			},
		},
		"no capacity leaves allocatable nil": {in: &corev1.Node{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			SetDefaults(tc.in)
			if diff := cmp.Diff(tc.want, tc.in.Status, quantityCmp); diff != "" {
				t.Errorf("SetDefaults mismatch (-want +got):\n%s", diff)
			}
			again := tc.in.DeepCopy()
			SetDefaults(again)
			if diff := cmp.Diff(tc.in, again, quantityCmp); diff != "" {
				t.Errorf("SetDefaults is not idempotent (-first +second):\n%s", diff)
			}
		})
	}
}

var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 && a.String() == b.String() })

func TestStrategy_Validate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		n    *corev1.Node
		want []string
	}{
		"a valid node passes": {n: newNode(nil)},
		"a namespace is forbidden": {
			n:    newNode(func(n *corev1.Node) { n.Namespace = "default" }),
			want: []string{"metadata.namespace: Forbidden: not allowed on this type"},
		},
		"a taint without effect is rejected": {
			n:    newNode(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "a"}} }),
			want: []string{"metadata.taints[0].effect: Required value"},
		},
		"an unknown taint effect is rejected": {
			n:    newNode(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "a", Effect: "Never"}} }),
			want: []string{`metadata.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		},
		"a duplicate taint is rejected": {
			n: newNode(func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "a", Effect: "NoSchedule"}, {Key: "a", Value: "x", Effect: "NoSchedule"}}
			}),
			want: []string{`metadata.taints[1]: Duplicate value: {"key":"a","value":"x","effect":"NoSchedule"}: taints must be unique by key and effect pair`},
		},
		"a negative capacity is rejected": {
			n: newNode(func(n *corev1.Node) {
				n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
			}),
			want: []string{`status.capacity.cpu: Invalid value: "-1": must be greater than or equal to 0`},
		},
		"a fractional pod count is rejected": {
			n: newNode(func(n *corev1.Node) {
				n.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1500m")}
			}),
			want: []string{`status.allocatable.pods: Invalid value: "1500m": must be an integer`},
		},
		"an invalid pod CIDR is rejected": {
			n:    newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.0.0"} }),
			want: []string{`spec.podCIDRs[0]: Invalid value: "10.0.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`},
		},
		"two IPv4 pod CIDRs are rejected": {
			n:    newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.0.0/24", "10.0.1.0/24"} }),
			want: []string{`spec.podCIDRs: Invalid value: ["10.0.0.0/24","10.0.1.0/24"]: may specify no more than one CIDR for each IP family`},
		},
		"dual-stack pod CIDRs pass": {
			n: newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.0.0/24", "fd00::/64"} }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(Strategy.Validate(context.Background(), tc.n))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	addr := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}
	tests := map[string]struct {
		old, n *corev1.Node
		want   []string
	}{
		"a heartbeat passes": {
			old: newNode(nil),
			n: newNode(func(n *corev1.Node) {
				n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			}),
		},
		"duplicate addresses are rejected": {
			old:  newNode(nil),
			n:    newNode(func(n *corev1.Node) { n.Status.Addresses = []corev1.NodeAddress{addr, addr} }),
			want: []string{`status.addresses[1]: Duplicate value: {"type":"InternalIP","address":"10.0.0.1"}`},
		},
		"changing a set pod CIDR is forbidden": {
			old:  newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.0.0/24"} }),
			n:    newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.1.0/24"} }),
			want: []string{`spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`},
		},
		"changing a set provider ID is forbidden": {
			old:  newNode(func(n *corev1.Node) { n.Spec.ProviderID = "a" }),
			n:    newNode(func(n *corev1.Node) { n.Spec.ProviderID = "b" }),
			want: []string{`spec.providerID: Forbidden: node updates may not change providerID except from "" to valid`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := errStrings(StatusStrategy.ValidateUpdate(context.Background(), tc.n, tc.old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateUpdate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrategy_PrepareForUpdate_StatusSplit(t *testing.T) {
	t.Parallel()
	old := newNode(nil)
	changed := func(n *corev1.Node) {
		n.Spec.Unschedulable = true
		n.Status.Phase = corev1.NodeRunning
	}

	main := newNode(changed)
	Strategy.PrepareForUpdate(context.Background(), main, old)
	if !main.Spec.Unschedulable || main.Status.Phase != "" {
		t.Errorf("main resource: unschedulable=%v phase=%q, want the spec change and the stored status", main.Spec.Unschedulable, main.Status.Phase)
	}

	status := newNode(changed)
	StatusStrategy.PrepareForUpdate(context.Background(), status, old)
	if status.Spec.Unschedulable || status.Status.Phase != corev1.NodeRunning {
		t.Errorf("status: unschedulable=%v phase=%q, want the stored spec and the status change", status.Spec.Unschedulable, status.Status.Phase)
	}
}

func TestStrategy_PrepareForCreate_KeepsStatusDropsConfig(t *testing.T) {
	t.Parallel()
	n := newNode(func(n *corev1.Node) {
		n.Spec.ConfigSource = &corev1.NodeConfigSource{}
		n.Status.Config = &corev1.NodeConfigStatus{}
		n.Status.Phase = corev1.NodeRunning
	})
	if got := Strategy.WarningsOnCreate(context.Background(), n); len(got) != 1 || got[0] != "spec.configSource: the feature is removed" {
		t.Errorf("WarningsOnCreate() = %q", got)
	}
	Strategy.PrepareForCreate(context.Background(), n)
	want := newNode(func(n *corev1.Node) { n.Status.Phase = corev1.NodeRunning })
	if diff := cmp.Diff(want, n, quantityCmp); diff != "" {
		t.Errorf("PrepareForCreate mismatch (-want +got):\n%s", diff)
	}
}

func TestGetAttrs(t *testing.T) {
	t.Parallel()
	_, f, err := GetAttrs(newNode(func(n *corev1.Node) { n.Spec.Unschedulable = true }))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields.Set{"metadata.name": "node-1", "spec.unschedulable": "true"}, f); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategy_Flags(t *testing.T) {
	t.Parallel()
	got := []bool{Strategy.NamespaceScoped(), Strategy.AllowCreateOnUpdate(), Strategy.AllowUnconditionalUpdate()}
	if diff := cmp.Diff([]bool{false, false, true}, got); diff != "" {
		t.Errorf("flags mismatch (-want +got):\n%s", diff)
	}
}

func TestTableConvertor_ConvertToTable(t *testing.T) {
	t.Parallel()
	ready := newNode(func(n *corev1.Node) {
		n.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * time.Minute))
		n.Labels = map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "agent"}
		n.Spec.Unschedulable = true
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
		n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-skiff", OSImage: "Debian", KernelVersion: "6.1", ContainerRuntimeVersion: "process://1"}
	})
	notReady := newNode(func(n *corev1.Node) {
		n.Name = "node-2"
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	})
	unknown := newNode(func(n *corev1.Node) { n.Name = "node-3" })
	table, err := TableConvertor.ConvertToTable(context.Background(), &corev1.NodeList{Items: []corev1.Node{*ready, *notReady, *unknown}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	wantHeaders := []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}
	if diff := cmp.Diff(wantHeaders, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	var cells [][]any
	for _, r := range table.Rows {
		cells = append(cells, r.Cells)
	}
	want := [][]any{
		{"node-1", "Ready,SchedulingDisabled", "agent,worker", "2m", "v1.37.2-skiff", "10.0.0.1", "<none>", "Debian", "6.1", "process://1"},
		{"node-2", "NotReady", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		{"node-3", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
	}
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("cells mismatch (-want +got):\n%s", diff)
	}
}
