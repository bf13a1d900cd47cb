package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// debugContainer is what kubectl debug adds, defaulted.
func debugContainer(name string) corev1.EphemeralContainer {
	pod := &corev1.Pod{Spec: corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox", Stdin: true, TTY: true},
		TargetContainerName:      "main",
	}}}}
	SetDefaults(pod)
	return pod.Spec.EphemeralContainers[0]
}

func TestEphemeralContainersStrategy_ValidateUpdate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		old, new func(*corev1.Pod)
		want     string
	}{
		"adding one": {new: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, debugContainer("debug"))
		}},
		"adding a second one": {
			old: func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("one")} },
			new: func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("two"), debugContainer("one")}
			},
		},
		"fields a pod's service relies on": {
			new: func(p *corev1.Pod) {
				ec := debugContainer("debug")
				ec.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
				ec.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}
				ec.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
				ec.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v", SubPath: "x"}}
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ec}
			},
			want: "[spec.ephemeralContainers[0].volumeMounts[0].name: Not found: \"v\", spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container, " +
				"spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container, " +
				"spec.ephemeralContainers[0].lifecycle: Forbidden: cannot be set for an Ephemeral Container, " +
				"spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container]",
		},
		"a name taken and a target that does not exist": {
			new: func(p *corev1.Pod) {
				ec := debugContainer("main")
				ec.TargetContainerName = "nope"
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ec}
			},
			want: `[spec.ephemeralContainers[0].name: Duplicate value: "main", spec.ephemeralContainers[0].targetContainerName: Not found: "nope"]`,
		},
		"removing one": {
			old:  func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debug")} },
			new:  func(p *corev1.Pod) { p.Spec.EphemeralContainers = nil },
			want: "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debug\" may not be removed\n",
		},
		"changing one": {
			old:  func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debug")} },
			new:  func(p *corev1.Pod) { p.Spec.EphemeralContainers[0].Image = "busybox:1.37" },
			want: "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debug\" may not be changed\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			oldPod := validPod()
			oldPod.ResourceVersion = "1"
			if tc.old != nil {
				tc.old(oldPod)
			}
			newPod := oldPod.DeepCopy()
			if tc.new != nil {
				tc.new(newPod)
			}
			EphemeralContainersStrategy.PrepareForUpdate(context.Background(), newPod, oldPod)
			got := aggregate(EphemeralContainersStrategy.ValidateUpdate(context.Background(), newPod, oldPod))
			if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestEphemeralContainersStrategy_PrepareForUpdate_KeepsAllButEphemeralContainers(t *testing.T) {
	t.Parallel()
	oldPod := validPod()
	oldPod.Generation = 1
	oldPod.Labels = map[string]string{"a": "1"}
	oldPod.Status.Phase = corev1.PodRunning
	newPod := oldPod.DeepCopy()
	newPod.Labels["a"] = "2"
	newPod.Spec.Containers[0].Image = "other"
	newPod.Status.Phase = corev1.PodFailed
	newPod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debug")}
	EphemeralContainersStrategy.PrepareForUpdate(context.Background(), newPod, oldPod)
	if newPod.Labels["a"] != "1" || newPod.Spec.Containers[0].Image != oldPod.Spec.Containers[0].Image || newPod.Status.Phase != corev1.PodRunning {
		t.Errorf("changes other than ephemeral containers kept: labels %v, image %q, phase %s", newPod.Labels, newPod.Spec.Containers[0].Image, newPod.Status.Phase)
	}
	if len(newPod.Spec.EphemeralContainers) != 1 || newPod.Generation != 2 {
		t.Errorf("ephemeral containers %d, generation %d; want 1 and a bumped generation", len(newPod.Spec.EphemeralContainers), newPod.Generation)
	}
}
