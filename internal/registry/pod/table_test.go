package pod

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var tableNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func tablePod() *corev1.Pod {
	pod := validPod()
	pod.CreationTimestamp = metav1.NewTime(tableNow.Add(-5 * time.Minute))
	pod.Status.Phase = corev1.PodPending
	return pod
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminatedState(code int32, reason string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}
}

func TestTableConvertor_ConvertToTable_StatusColumn(t *testing.T) {
	t.Parallel()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	tests := map[string]struct {
		mutate    func(*corev1.Pod)
		wantReady string
		wantState string
		wantRest  string
	}{
		"pending without statuses": {mutate: func(*corev1.Pod) {}, wantReady: "0/1", wantState: "Pending", wantRest: "0"},
		"container creating": {mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("ContainerCreating")}}
		}, wantReady: "0/1", wantState: "ContainerCreating", wantRest: "0"},
		"running and ready": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", Ready: true, State: running}}
		}, wantReady: "1/1", wantState: "Running", wantRest: "0"},
		"completed": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminatedState(0, "Completed")}}
		}, wantReady: "0/1", wantState: "Completed", wantRest: "0"},
		"error": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminatedState(1, "Error")}}
		}, wantReady: "0/1", wantState: "Error", wantRest: "0"},
		"exit code without reason": {mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminatedState(3, "")}}
		}, wantReady: "0/1", wantState: "ExitCode:3", wantRest: "0"},
		"status reason wins over phase": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "DeadlineExceeded"
		}, wantReady: "0/1", wantState: "DeadlineExceeded", wantRest: "0"},
		"crash loop with restarts": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name: "main", State: waiting("CrashLoopBackOff"), RestartCount: 3,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, FinishedAt: metav1.NewTime(tableNow.Add(-2 * time.Minute))}},
			}}
		}, wantReady: "0/1", wantState: "CrashLoopBackOff", wantRest: "3 (2m ago)"},
		"init container progress": {mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: running}}
		}, wantReady: "0/1", wantState: "Init:0/1", wantRest: "0"},
		"init container failed": {mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: terminatedState(2, "Error")}}
		}, wantReady: "0/1", wantState: "Init:Error", wantRest: "0"},
		"init container waiting": {mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: waiting("ImagePullBackOff")}}
		}, wantReady: "0/1", wantState: "Init:ImagePullBackOff", wantRest: "0"},
		"sidecar counts toward ready": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "side", Started: ptrTo(true), Ready: true, State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", Ready: true, State: running}}
		}, wantReady: "2/2", wantState: "Running", wantRest: "0"},
		"terminating": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			ts := metav1.NewTime(tableNow)
			p.DeletionTimestamp = &ts
		}, wantReady: "0/1", wantState: "Terminating", wantRest: "0"},
		"terminal pod being deleted keeps its phase": {mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			ts := metav1.NewTime(tableNow)
			p.DeletionTimestamp = &ts
		}, wantReady: "0/1", wantState: "Succeeded", wantRest: "0"},
		"node lost": {mutate: func(p *corev1.Pod) {
			p.Status.Reason = "NodeLost"
			ts := metav1.NewTime(tableNow)
			p.DeletionTimestamp = &ts
		}, wantReady: "0/1", wantState: "Unknown", wantRest: "0"},
		"scheduling gated": {mutate: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
		}, wantReady: "0/1", wantState: "SchedulingGated", wantRest: "0"},
	}
	conv := tableConvertor{now: func() time.Time { return tableNow }}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := tablePod()
			tc.mutate(pod)
			table, err := conv.ConvertToTable(context.Background(), pod, nil)
			if err != nil {
				t.Fatalf("ConvertToTable: %v", err)
			}
			want := []any{"p1", tc.wantReady, tc.wantState, tc.wantRest, "5m", "<none>", "<none>", "<none>", "<none>"}
			if diff := cmp.Diff(want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableConvertor_ConvertToTable_ListAndOptions(t *testing.T) {
	t.Parallel()
	conv := tableConvertor{now: func() time.Time { return tableNow }}
	pod := tablePod()
	pod.Spec.NodeName = "node-1"
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.9"}}
	pod.Status.NominatedNodeName = "node-2"
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}, {ConditionType: "example.com/other"}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: "example.com/ready", Status: corev1.ConditionTrue}}
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next"}, Items: []corev1.Pod{*pod}}

	table, err := conv.ConvertToTable(context.Background(), list, &metav1.TableOptions{IncludeObject: metav1.IncludeObject})
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	wantNames := []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if table.ResourceVersion != "42" || table.Continue != "next" {
		t.Errorf("list meta = %q/%q, want 42/next", table.ResourceVersion, table.Continue)
	}
	wantCells := []any{"p1", "0/1", "Succeeded", "0", "5m", "10.0.0.9", "node-1", "node-2", "1/2"}
	if diff := cmp.Diff(wantCells, table.Rows[0].Cells); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(podSuccessConditions, table.Rows[0].Conditions); diff != "" {
		t.Errorf("row conditions (-want +got):\n%s", diff)
	}
	full, ok := table.Rows[0].Object.Object.(*corev1.Pod)
	if !ok || full.Kind != "Pod" || full.APIVersion != "v1" {
		t.Errorf("row object = %#v, want a v1 Pod", table.Rows[0].Object.Object)
	}

	table, err = conv.ConvertToTable(context.Background(), pod, &metav1.TableOptions{NoHeaders: true})
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if table.ColumnDefinitions != nil {
		t.Errorf("NoHeaders: columns = %v, want none", table.ColumnDefinitions)
	}
	partial, ok := table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
	if !ok || partial.Kind != "PartialObjectMetadata" || partial.Name != "p1" {
		t.Errorf("default include: row object = %#v, want PartialObjectMetadata", table.Rows[0].Object.Object)
	}

	table, err = conv.ConvertToTable(context.Background(), pod, &metav1.TableOptions{IncludeObject: metav1.IncludeNone})
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if table.Rows[0].Object.Object != nil {
		t.Errorf("IncludeNone: row object = %#v, want nil", table.Rows[0].Object.Object)
	}
	if _, err := conv.ConvertToTable(context.Background(), &corev1.Node{}, nil); err == nil {
		t.Errorf("ConvertToTable(node) error = nil, want an error")
	}
}
