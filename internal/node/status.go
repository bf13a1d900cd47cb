package node

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeletConditions are the pod conditions the agent owns; every other
// condition (DisruptionTarget, readiness gates...) is kept as it is.
var kubeletConditions = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true, corev1.PodReady: true,
	corev1.ContainersReady: true, corev1.PodScheduled: true,
}

// buildStatus computes the pod's status from the worker's state, as the
// kubelet's generateAPIPodStatus: phase, conditions, container statuses,
// IPs and start time. now stamps conditions that change.
func (w *podWorker) buildStatus(pod *corev1.Pod, now metav1.Time) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	ip := w.a.cfg.NodeIP
	s := corev1.PodStatus{
		QOSClass: pod.Status.QOSClass, NominatedNodeName: pod.Status.NominatedNodeName,
		ObservedGeneration: pod.Generation, HostIP: ip, HostIPs: []corev1.HostIP{{IP: ip}},
		StartTime: w.startTime, Resize: pod.Status.Resize, ResourceClaimStatuses: pod.Status.ResourceClaimStatuses,
	}
	if w.sandboxReady {
		s.PodIP, s.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	s.InitContainerStatuses = containerStatuses(w.initStates)
	s.ContainerStatuses = containerStatuses(w.ctrStates)
	s.EphemeralContainerStatuses = containerStatuses(w.ephemeralStates)
	if w.terminal != nil {
		s.Phase, s.Reason, s.Message = w.terminal.phase, w.terminal.reason, w.terminal.message
	} else {
		s.Phase = w.phase()
	}
	if isTerminal(pod) && s.Phase != pod.Status.Phase {
		// Pods never leave a terminal phase.
		s.Phase, s.Reason, s.Message = pod.Status.Phase, pod.Status.Reason, pod.Status.Message
	}
	for _, c := range pod.Status.Conditions {
		if !kubeletConditions[c.Type] {
			s.Conditions = append(s.Conditions, c)
		}
	}
	for _, c := range w.conditions(s.Phase) {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = now
		if old := findCondition(pod.Status.Conditions, c.Type); old != nil && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		s.Conditions = append(s.Conditions, c)
	}
	return s
}

// phase is the phase of a pod still running (before finish decides).
func (w *podWorker) phase() corev1.PodPhase {
	if !w.initialized {
		return corev1.PodPending
	}
	for _, st := range w.ctrStates {
		if st.state.Waiting != nil && st.last.Terminated == nil {
			return corev1.PodPending
		}
	}
	return corev1.PodRunning
}

// conditions are the kubelet-owned conditions for the current state.
func (w *podWorker) conditions(phase corev1.PodPhase) []corev1.PodCondition {
	bool2 := func(b bool) corev1.ConditionStatus {
		if b {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	out := []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: bool2(w.sandboxReady && !w.finished)}}
	var notInit []string
	for _, st := range w.initStates {
		switch t := st.state.Terminated; {
		case st.sidecar && !st.started: // a sidecar counts once started
			notInit = append(notInit, st.name)
		case !st.sidecar && (t == nil || t.ExitCode != 0):
			notInit = append(notInit, st.name)
		}
	}
	initCond := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	switch {
	case phase == corev1.PodSucceeded:
		initCond.Reason = "PodCompleted"
	case len(notInit) > 0 && !w.initialized:
		initCond = corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionFalse,
			Reason: "ContainersNotInitialized", Message: fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(notInit, " "))}
	}
	out = append(out, initCond)
	ready := corev1.PodCondition{Status: corev1.ConditionTrue}
	var unready []string
	for _, st := range append(w.sidecarStatesLocked(), w.ctrStates...) {
		if st.state.Running == nil || !st.started || !st.ready {
			unready = append(unready, st.name)
		}
	}
	switch {
	case phase == corev1.PodSucceeded:
		ready = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "PodCompleted"}
	case phase == corev1.PodFailed:
		ready = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "PodFailed"}
	case initCond.Status == corev1.ConditionFalse:
		ready = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized", Message: initCond.Message}
	case len(unready) > 0:
		ready = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
			Message: fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))}
	}
	podReady, ctrsReady := ready, ready
	podReady.Type, ctrsReady.Type = corev1.PodReady, corev1.ContainersReady
	return append(out, podReady, ctrsReady, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
}

// containerStatuses converts the agent's container states.
func containerStatuses(states []*ctrState) []corev1.ContainerStatus {
	if len(states) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(states))
	for _, st := range states {
		running := st.state.Running != nil
		started := running && st.started
		cs := corev1.ContainerStatus{
			Name: st.name, Image: st.image, ImageID: st.image, RestartCount: st.restartCount,
			State: *st.state.DeepCopy(), LastTerminationState: *st.last.DeepCopy(),
			Ready: started && st.ready, Started: &started,
		}
		switch {
		case st.init && !st.sidecar:
			t := st.state.Terminated
			cs.Ready = t != nil && t.ExitCode == 0
		case st.ephemeral: // the kubelet's prober sets neither for them
			cs.Ready, cs.Started = false, nil
		}
		if running || st.state.Terminated != nil {
			cs.ContainerID = containerIDPrefix + string(st.id)
		}
		out = append(out, cs)
	}
	return out
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
