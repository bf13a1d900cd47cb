package node

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStatusEqual_AsTheAPIStoresIt(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 28, 7, 0, 0, 123456789, time.UTC))
	written := corev1.PodStatus{
		Phase:      corev1.PodRunning,
		StartTime:  &at,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}}}},
	}
	raw, err := json.Marshal(written)
	if err != nil {
		t.Fatal(err)
	}
	var readBack corev1.PodStatus
	if err := json.Unmarshal(raw, &readBack); err != nil {
		t.Fatal(err)
	}
	if !statusEqual(&written, &readBack) {
		t.Errorf("a status is not equal to itself read back from JSON (seconds precision):\n%+v\n%+v", written, readBack)
	}
	if !statusEqual(&corev1.PodStatus{Conditions: []corev1.PodCondition{}}, &corev1.PodStatus{}) {
		t.Error("empty and nil conditions differ; they serialize alike")
	}

	changed := []func(s *corev1.PodStatus){
		func(s *corev1.PodStatus) { s.Phase = corev1.PodFailed },
		func(s *corev1.PodStatus) { later := metav1.NewTime(at.Add(time.Second)); s.StartTime = &later },
		func(s *corev1.PodStatus) { s.ContainerStatuses[0].Ready = false },
		func(s *corev1.PodStatus) { s.Conditions = nil },
		func(s *corev1.PodStatus) {
			s.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
		},
	}
	for i, change := range changed {
		other := *written.DeepCopy()
		change(&other)
		if statusEqual(&written, &other) {
			t.Errorf("change %d: statuses compare equal, want different", i)
		}
	}
}
