package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Reason and message of pods the agent lost track of across a restart.
const (
	reasonNodeAgentRestarted = "NodeAgentRestarted"
	messageLostFormat        = "Pod was active on node %s when its node agent stopped; its containers are no longer tracked"
)

// reconcile runs once at start, before any pod worker, so that nothing runs
// unaccounted for (virtual-kubelet's deleteDanglingPods):
//   - runtime containers of pods that no longer exist are killed and removed;
//   - pods bound here that had started (status.startTime set) and are not
//     terminal were run by an earlier agent: their containers are stopped
//     and the pods end Failed, since their state cannot be trusted.
func (a *Agent) reconcile(ctx context.Context) error {
	ctrs, err := a.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("node agent: listing runtime containers: %w", err)
	}
	byPod := map[types.UID][]crt.ContainerStatus{}
	for _, c := range ctrs {
		byPod[types.UID(c.PodUID)] = append(byPod[types.UID(c.PodUID)], c)
	}
	pods, err := a.podLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("node agent: listing pods: %w", err)
	}
	known := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		known[p.UID] = p
	}
	for uid, list := range byPod {
		if known[uid] != nil {
			continue
		}
		a.logger.Info("removing containers of a pod that no longer exists", "uid", string(uid), "containers", len(list))
		if err := a.rt.RemoveSandbox(ctx, string(uid)); err != nil {
			a.logger.Warn("removing dangling pod sandbox", "uid", string(uid), "err", err)
		}
	}
	for _, p := range pods {
		if isTerminal(p) || p.Status.StartTime == nil {
			continue
		}
		for _, c := range byPod[p.UID] {
			if c.State == crt.StateRunning {
				if err := a.rt.Stop(ctx, c.ID, min(specGrace(p), a.cfg.ShutdownGracePeriod)); err != nil {
					a.logger.Warn("stopping untracked container", "container", string(c.ID), "err", err)
				}
			}
		}
		a.mu.Lock()
		a.lost[p.UID] = true
		a.mu.Unlock()
		if err := a.failLostPod(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// failLostPod marks a pod the agent lost Failed: unfinished containers are
// terminated with ContainerStatusUnknown, as the kubelet's TerminatePod.
func (a *Agent) failLostPod(ctx context.Context, pod *corev1.Pod) error {
	pods := a.client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || isTerminal(cur) {
			return nil
		}
		markLost(&cur.Status, a.cfg.NodeName, metav1.NewTime(a.clock.Now()).Rfc3339Copy())
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node agent: failing lost pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.logger.Info("pod lost across an agent restart marked Failed", "pod", pod.Namespace+"/"+pod.Name)
	if pod.DeletionTimestamp != nil {
		cur := pod.DeepCopy()
		cur.Status.Phase = corev1.PodFailed
		return a.confirmDeletion(ctx, cur)
	}
	return nil
}

func markLost(s *corev1.PodStatus, node string, now metav1.Time) {
	s.Phase = corev1.PodFailed
	s.Reason, s.Message = reasonNodeAgentRestarted, fmt.Sprintf(messageLostFormat, node)
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses} {
		for i := range list {
			cs := &list[i]
			if cs.State.Terminated != nil {
				continue
			}
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: reasonUnknownContainer, Message: messageUnknownContainer, FinishedAt: now}}
			cs.Ready, cs.Started = false, new(bool)
		}
	}
	for i := range s.Conditions {
		switch s.Conditions[i].Type {
		case corev1.PodReady, corev1.ContainersReady, corev1.PodReadyToStartContainers:
			if s.Conditions[i].Status != corev1.ConditionFalse {
				s.Conditions[i].Status, s.Conditions[i].LastTransitionTime = corev1.ConditionFalse, now
				s.Conditions[i].Reason, s.Conditions[i].Message = "", ""
			}
		}
	}
}
