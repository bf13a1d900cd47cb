package pod

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodStrategy_CheckGracefulDelete_Table(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		nodeName  string
		phase     corev1.PodPhase
		specGrace *int64
		optGrace  *int64
		want      int64
	}{
		"scheduled pod, default grace":          {nodeName: "n1", specGrace: ptrTo(int64(30)), want: 30},
		"options override spec":                 {nodeName: "n1", specGrace: ptrTo(int64(30)), optGrace: ptrTo(int64(10)), want: 10},
		"options zero deletes now":              {nodeName: "n1", specGrace: ptrTo(int64(30)), optGrace: ptrTo(int64(0)), want: 0},
		"no spec grace and no options":          {nodeName: "n1", want: 0},
		"spec grace zero":                       {nodeName: "n1", specGrace: ptrTo(int64(0)), want: 0},
		"unscheduled pod ignores 60":            {specGrace: ptrTo(int64(30)), optGrace: ptrTo(int64(60)), want: 0},
		"succeeded pod":                         {nodeName: "n1", phase: corev1.PodSucceeded, specGrace: ptrTo(int64(30)), want: 0},
		"failed pod":                            {nodeName: "n1", phase: corev1.PodFailed, specGrace: ptrTo(int64(30)), want: 0},
		"running pod keeps grace":               {nodeName: "n1", phase: corev1.PodRunning, specGrace: ptrTo(int64(30)), want: 30},
		"negative option becomes 1":             {nodeName: "n1", specGrace: ptrTo(int64(30)), optGrace: ptrTo(int64(-1)), want: 1},
		"negative spec becomes 1":               {nodeName: "n1", specGrace: ptrTo(int64(-5)), want: 1},
		"negative on unscheduled pod becomes 0": {specGrace: ptrTo(int64(-5)), want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := &corev1.Pod{
				Spec:   corev1.PodSpec{NodeName: tc.nodeName, TerminationGracePeriodSeconds: tc.specGrace},
				Status: corev1.PodStatus{Phase: tc.phase},
			}
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tc.optGrace}
			if !Strategy.CheckGracefulDelete(context.Background(), pod, opts) {
				t.Fatalf("CheckGracefulDelete returned false, want true")
			}
			if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != tc.want {
				t.Errorf("grace = %v, want %d", opts.GracePeriodSeconds, tc.want)
			}
		})
	}
}

func TestPodStrategy_CheckGracefulDelete_NilOptions(t *testing.T) {
	t.Parallel()
	if Strategy.CheckGracefulDelete(context.Background(), validPod(), nil) {
		t.Errorf("CheckGracefulDelete(nil options) = true, want false")
	}
}

func TestPodStrategy_PrepareForCreate_ResetsStatus(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		resources corev1.ResourceRequirements
		gates     []corev1.PodSchedulingGate
		want      corev1.PodStatus
	}{
		"best effort": {want: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort}},
		"guaranteed": {
			resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			want: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSGuaranteed},
		},
		"burstable": {
			resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			want:      corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable},
		},
		"scheduling gated": {
			gates: []corev1.PodSchedulingGate{{Name: "example.com/gate"}},
			want: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated",
				Message: "Scheduling is blocked due to non-empty scheduling gates",
			}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := validPod()
			pod.Generation = 7
			pod.Spec.Containers[0].Resources = tc.resources
			pod.Spec.SchedulingGates = tc.gates
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Message: "client set"}
			Strategy.PrepareForCreate(context.Background(), pod)
			if pod.Generation != 1 {
				t.Errorf("generation = %d, want 1", pod.Generation)
			}
			if diff := cmp.Diff(tc.want, pod.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodStrategy_PrepareForUpdate_StatusIgnoredGenerationBumped(t *testing.T) {
	t.Parallel()
	old := validPod()
	old.Generation = 1
	old.Status = corev1.PodStatus{Phase: corev1.PodRunning}

	sameSpec := old.DeepCopy()
	sameSpec.Status.Phase = corev1.PodFailed
	sameSpec.Labels = map[string]string{"a": "b"}
	Strategy.PrepareForUpdate(context.Background(), sameSpec, old)
	if sameSpec.Status.Phase != corev1.PodRunning || sameSpec.Generation != 1 {
		t.Errorf("same spec: phase %q generation %d, want Running 1", sameSpec.Status.Phase, sameSpec.Generation)
	}

	newImage := old.DeepCopy()
	newImage.Spec.Containers[0].Image = "busybox:1.37"
	Strategy.PrepareForUpdate(context.Background(), newImage, old)
	if newImage.Generation != 2 {
		t.Errorf("spec change: generation %d, want 2", newImage.Generation)
	}
}

func TestPodStrategy_Validate_Create(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*corev1.Pod)
		want   string
	}{
		"valid pod": {mutate: func(*corev1.Pod) {}, want: ""},
		"bad name": {
			mutate: func(p *corev1.Pod) { p.Name = "Bad_Name" },
			want:   `metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
		"image with whitespace": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " busybox" },
			want:   `spec.containers[0].image: Invalid value: " busybox": must not have leading or trailing whitespace`,
		},
		"ephemeral containers on create": {
			mutate: func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "dbg", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}}
			},
			want: "spec.ephemeralContainers: Forbidden: cannot be set on create",
		},
		"nodeName with scheduling gates": {
			mutate: func(p *corev1.Pod) {
				p.Spec.NodeName = "n1"
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
			},
			want: "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared",
		},
		"host network pod needs matching host port": {
			mutate: func(p *corev1.Pod) {
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 81, Protocol: "TCP"}}
			},
			want: "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
		},
		"deletion cost not an integer": {
			mutate: func(p *corev1.Pod) {
				p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "+10"}
			},
			want: `metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "+10": must be a 32bit integer`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := validPod()
			tc.mutate(pod)
			got := aggregate(Strategy.Validate(context.Background(), pod))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodStrategy_ValidateUpdate_Immutability(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate    func(*corev1.Pod)
		wantErr   string
		wantStart string
	}{
		"image change allowed":        {mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "busybox:1.37" }},
		"add toleration allowed":      {mutate: func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Exists"}} }},
		"set active deadline allowed": {mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(100)) }},
		"labels change allowed":       {mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }},
		"restart policy change forbidden": {
			mutate:    func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			wantStart: "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  v1.PodSpec{",
		},
		"add container forbidden": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "x"})
				SetDefaults(p)
			},
			wantErr: "spec.containers: Forbidden: pod updates may not add or remove containers",
		},
		"image removed": {
			mutate:  func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			wantErr: "spec.containers[0].image: Required value", // reported twice, deduplicated by ToAggregate
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			old := validPod()
			old.ResourceVersion = "5"
			pod := old.DeepCopy()
			tc.mutate(pod)
			// go-cmp randomly renders its diff indentation with U+00A0.
			got := strings.ReplaceAll(aggregate(Strategy.ValidateUpdate(context.Background(), pod, old)), "\u00a0", " ")
			switch {
			case tc.wantStart != "":
				if !strings.HasPrefix(got, tc.wantStart) || !strings.Contains(got, "RestartPolicy:") {
					t.Errorf("error = %q, want prefix %q and a diff naming RestartPolicy", got, tc.wantStart)
				}
			default:
				if diff := cmp.Diff(tc.wantErr, got); diff != "" {
					t.Errorf("errors (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPodStrategy_ValidateUpdate_ActiveDeadline(t *testing.T) {
	t.Parallel()
	old := validPod()
	old.ResourceVersion = "5"
	old.Spec.ActiveDeadlineSeconds = ptrTo(int64(100))
	tests := map[string]struct {
		value *int64
		want  string
	}{
		"lowered":  {value: ptrTo(int64(50)), want: ""},
		"raised":   {value: ptrTo(int64(200)), want: "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"},
		"removed":  {value: nil, want: "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"},
		"negative": {value: ptrTo(int64(-1)), want: "[spec.activeDeadlineSeconds: Invalid value: -1: must be between 1 and 2147483647, inclusive, spec.activeDeadlineSeconds: Invalid value: -1: must be between 0 and 2147483647, inclusive]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := old.DeepCopy()
			pod.Spec.ActiveDeadlineSeconds = tc.value
			got := aggregate(Strategy.ValidateUpdate(context.Background(), pod, old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodStrategy_WarningsOnCreate(t *testing.T) {
	t.Parallel()
	pod := validPod()
	pod.Name = "a.b"
	pod.Spec.TerminationGracePeriodSeconds = ptrTo(int64(-1))
	want := []string{
		"metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]",
		"spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1",
	}
	if diff := cmp.Diff(want, Strategy.WarningsOnCreate(context.Background(), pod)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
