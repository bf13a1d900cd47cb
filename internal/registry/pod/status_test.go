package pod

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func runningPod() *corev1.Pod {
	pod := validPod()
	pod.ResourceVersion = "7"
	pod.Generation = 1
	pod.Spec.NodeName = "node-1"
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "pi", UID: "u1"}}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBestEffort, ObservedGeneration: 1,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: 1}}}
	return pod
}

func TestPodStatusStrategy_PrepareForUpdate_KeepsSpec(t *testing.T) {
	t.Parallel()
	old := runningPod()
	pod := old.DeepCopy()
	pod.Spec.NodeName = "other"
	pod.Spec.Containers[0].Image = "evil"
	pod.OwnerReferences = nil
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	pod.Labels = map[string]string{"seen": "yes"}
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}

	StatusStrategy.PrepareForUpdate(context.Background(), pod, old)

	if diff := cmp.Diff(old.Spec, pod.Spec); diff != "" {
		t.Errorf("spec changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(old.OwnerReferences, pod.OwnerReferences); diff != "" {
		t.Errorf("ownerReferences changed (-want +got):\n%s", diff)
	}
	if pod.DeletionTimestamp != nil {
		t.Errorf("deletionTimestamp = %v, want nil", pod.DeletionTimestamp)
	}
	want := corev1.PodStatus{Phase: corev1.PodSucceeded, QOSClass: corev1.PodQOSBestEffort, ObservedGeneration: 1,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, ObservedGeneration: 1}}}
	if diff := cmp.Diff(want, pod.Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if pod.Labels["seen"] != "yes" {
		t.Errorf("labels = %v, want the status update's labels kept", pod.Labels)
	}
}

func TestPodStatusStrategy_ValidateUpdate_Rules(t *testing.T) {
	t.Parallel()
	terminated := func(code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	tests := map[string]struct {
		restart  corev1.RestartPolicy
		oldState corev1.ContainerState
		mutate   func(*corev1.Pod)
		want     string
	}{
		"phase to Succeeded": {mutate: func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }},
		"terminated container restarts under Never": {
			restart: corev1.RestartPolicyNever, oldState: terminated(0),
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running },
			want:   "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
		},
		"failed container restarts under OnFailure": {
			restart: corev1.RestartPolicyOnFailure, oldState: terminated(1),
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running },
		},
		"succeeded container restarts under OnFailure": {
			restart: corev1.RestartPolicyOnFailure, oldState: terminated(0),
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running },
			want:   "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
		},
		"terminated container restarts under Always": {
			restart: corev1.RestartPolicyAlways, oldState: terminated(0),
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running },
		},
		"qos class changed": {
			mutate: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			want:   `status.qosClass: Invalid value: "Guaranteed": field is immutable`,
		},
		"bad pod IP": {
			mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.300"}} },
			want:   `status.podIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
		},
		"two IPv4 pod IPs": {
			mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}} },
			want:   `status.podIPs: Invalid value: [{"ip":"10.0.0.1"},{"ip":"10.0.0.2"}]: may specify no more than one IP for each IP family`,
		},
		"bad custom condition type": {
			mutate: func(p *corev1.Pod) {
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "bad type", Status: corev1.ConditionTrue})
			},
			want: `metadata.conditions[1].Type: Invalid value: "bad type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			old := runningPod()
			if tc.restart != "" {
				old.Spec.RestartPolicy = tc.restart
			}
			old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: tc.oldState}}
			pod := old.DeepCopy()
			tc.mutate(pod)
			StatusStrategy.PrepareForUpdate(context.Background(), pod, old)
			got := aggregate(StatusStrategy.ValidateUpdate(context.Background(), pod, old))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetAttrs_PodFields(t *testing.T) {
	t.Parallel()
	pod := runningPod()
	pod.Labels = map[string]string{"job-name": "pi"}
	pod.Spec.ServiceAccountName = "default"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}
	pod.Status.NominatedNodeName = "node-2"
	labels, fields, err := GetAttrs(pod)
	if err != nil {
		t.Fatalf("GetAttrs: %v", err)
	}
	if diff := cmp.Diff("pi", labels["job-name"]); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"metadata.name": "p1", "metadata.namespace": "default",
		"spec.nodeName": "node-1", "spec.restartPolicy": "Never", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "default", "spec.hostNetwork": "false",
		"status.phase": "Running", "status.podIP": "10.0.0.5", "status.nominatedNodeName": "node-2",
	}
	if diff := cmp.Diff(want, map[string]string(fields)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&corev1.Node{}); err == nil {
		t.Errorf("GetAttrs(node) error = nil, want an error")
	}
}
