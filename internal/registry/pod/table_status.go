package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeUnreachablePodReason is the status reason the node lifecycle
// controller sets on pods of an unreachable node.
const nodeUnreachablePodReason = "NodeLost"

// podSummary is what printPod derives from a pod's status.
type podSummary struct {
	reason      string
	ready       int
	total       int
	restarts    int
	lastRestart metav1.Time
}

// summarizePod computes the READY, STATUS and RESTARTS columns exactly as
// upstream's printPod: init-container progress ("Init:0/1",
// "Init:CrashLoopBackOff", "Init:Error"), then container waiting/terminated
// reasons ("ContainerCreating", "Completed", "Error", "ExitCode:1"),
// "Running"/"NotReady" when a container still runs, "Terminating" for a
// non-terminal pod with a deletionTimestamp.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), reason: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.reason = corev1.PodReasonSchedulingGated
		}
	}
	initContainers := make(map[string]*corev1.Container, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		initContainers[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
		if isRestartableInitContainer(&pod.Spec.InitContainers[i]) {
			s.total++
		}
	}
	initializing, sidecarRestarts, sidecarLast := summarizeInitContainers(pod, initContainers, &s)
	if !initializing || isPodInitialized(pod) {
		s.restarts = sidecarRestarts
		s.lastRestart = sidecarLast
		summarizeContainers(pod, &s)
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if pod.DeletionTimestamp != nil && pod.Status.Reason == nodeUnreachablePodReason {
		s.reason = "Unknown"
	} else if pod.DeletionTimestamp != nil && !terminal {
		s.reason = "Terminating"
	}
	return s
}

// summarizeInitContainers walks the init container statuses until the first
// one that has not completed, setting the Init:... reason. It returns whether
// the pod is still initializing, and the restarts of restartable (sidecar)
// init containers with their latest restart time.
func summarizeInitContainers(pod *corev1.Pod, specs map[string]*corev1.Container, s *podSummary) (bool, int, metav1.Time) {
	sidecarRestarts := 0
	var sidecarLast metav1.Time
	for i, c := range pod.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		noteRestart(&s.lastRestart, c)
		restartable := isRestartableInitContainer(specs[c.Name])
		if restartable {
			sidecarRestarts += int(c.RestartCount)
			noteRestart(&sidecarLast, c)
		}
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case restartable && c.Started != nil && *c.Started:
			if c.Ready {
				s.ready++
			}
			continue
		case c.State.Terminated != nil:
			switch {
			case c.State.Terminated.Reason != "":
				s.reason = "Init:" + c.State.Terminated.Reason
			case c.State.Terminated.Signal != 0:
				s.reason = fmt.Sprintf("Init:Signal:%d", c.State.Terminated.Signal)
			default:
				s.reason = fmt.Sprintf("Init:ExitCode:%d", c.State.Terminated.ExitCode)
			}
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			s.reason = "Init:" + c.State.Waiting.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		return true, sidecarRestarts, sidecarLast
	}
	return false, sidecarRestarts, sidecarLast
}

// summarizeContainers walks the container statuses from last to first, as
// upstream does, so the first container's reason wins.
func summarizeContainers(pod *corev1.Pod, s *podSummary) {
	hasRunning := false
	for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
		c := pod.Status.ContainerStatuses[i]
		s.restarts += int(c.RestartCount)
		noteRestart(&s.lastRestart, c)
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			s.reason = c.State.Waiting.Reason
		case c.State.Terminated != nil && c.State.Terminated.Reason != "":
			s.reason = c.State.Terminated.Reason
		case c.State.Terminated != nil && c.State.Terminated.Signal != 0:
			s.reason = fmt.Sprintf("Signal:%d", c.State.Terminated.Signal)
		case c.State.Terminated != nil:
			s.reason = fmt.Sprintf("ExitCode:%d", c.State.Terminated.ExitCode)
		case c.Ready && c.State.Running != nil:
			hasRunning = true
			s.ready++
		}
	}
	if s.reason == "Completed" && hasRunning {
		if hasPodReadyCondition(pod) {
			s.reason = "Running"
		} else {
			s.reason = "NotReady"
		}
	}
}

func noteRestart(last *metav1.Time, c corev1.ContainerStatus) {
	if t := c.LastTerminationState.Terminated; t != nil && last.Before(&t.FinishedAt) {
		*last = t.FinishedAt
	}
}

func isPodInitialized(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasPodReadyCondition(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
