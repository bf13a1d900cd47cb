package bench

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Node heartbeat settings, as the kubelet's defaults.
const (
	nodeLeaseNamespace     = "kube-node-lease"
	nodeLeaseDuration      = 40 // seconds
	nodeHeartbeatInterval  = 10 * time.Second
	fakeNodeUnregisterWait = 10 * time.Second
)

// node builds the Node object: Ready, tainted, with room for many Pods.
func (n *FakeNode) node(now time.Time) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("100000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.cfg.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:   n.cfg.NodeName,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
				"type":                 "skiff-bench-fake-node",
			},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: FakeNodeTaintKey, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message:           "skiff-bench fake node is posting ready status",
				LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
			}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "skiff-bench-fake", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

// register creates the Node, or takes over an existing one of the same name,
// and writes its Ready status through the status subresource (servers may
// drop status on create).
func (n *FakeNode) register(ctx context.Context) error {
	nodes := n.client.CoreV1().Nodes()
	want := n.node(time.Now())
	got, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = nodes.Get(ctx, want.Name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("fake node: registering node %s: %w", want.Name, err)
	}
	got = got.DeepCopy()
	got.Status = want.Status
	if _, err := nodes.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("fake node: setting status of node %s: %w", want.Name, err)
	}
	return nil
}

// unregister deletes the Node, best effort; its Lease goes with it through
// its owner reference.
func (n *FakeNode) unregister(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fakeNodeUnregisterWait)
	defer cancel()
	err := n.client.CoreV1().Nodes().Delete(ctx, n.cfg.NodeName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		n.log.Warn("deleting fake node failed", "err", err)
	}
}

// heartbeat renews the node Lease until ctx is done, so a node lifecycle
// controller does not mark the Node NotReady and evict its Pods. A server
// without the kube-node-lease namespace gets no heartbeat.
func (n *FakeNode) heartbeat(ctx context.Context) {
	for {
		if err := n.renewLease(ctx); err != nil {
			if apierrors.IsNotFound(err) {
				n.log.Debug("no node lease namespace; not heartbeating", "err", err)
				return
			}
			if ctx.Err() == nil {
				n.log.Warn("renewing node lease failed", "err", err)
			}
		}
		if !sleepCtx(ctx, nodeHeartbeatInterval) {
			return
		}
	}
}

func (n *FakeNode) renewLease(ctx context.Context) error {
	leases := n.client.CoordinationV1().Leases(nodeLeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting node for lease owner: %w", err)
		}
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName, Namespace: nodeLeaseNamespace,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.cfg.NodeName),
				LeaseDurationSeconds: ptr.To[int32](nodeLeaseDuration), RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return fmt.Errorf("getting node lease: %w", err)
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// runningStatus returns a copy of pod whose status says its containers run.
func runningStatus(pod *corev1.Pod, now time.Time) *corev1.Pod {
	p := pod.DeepCopy()
	t := metav1.NewTime(now)
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &t
	p.Status.HostIP = "127.0.0.1"
	p.Status.Conditions = podConditions(t, corev1.ConditionTrue, "")
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			ContainerID: "fake://" + string(p.UID) + "/" + c.Name,
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}},
		})
	}
	return p
}

// succeededStatus returns a copy of pod whose containers exited 0.
func succeededStatus(pod *corev1.Pod, now time.Time) *corev1.Pod {
	p := pod.DeepCopy()
	t := metav1.NewTime(now)
	started := t
	if p.Status.StartTime != nil {
		started = *p.Status.StartTime
	}
	p.Status.Phase = corev1.PodSucceeded
	p.Status.Conditions = podConditions(t, corev1.ConditionFalse, "PodCompleted")
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Started: ptr.To(false),
			ContainerID: "fake://" + string(p.UID) + "/" + c.Name,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: t,
				ContainerID: "fake://" + string(p.UID) + "/" + c.Name,
			}},
		})
	}
	return p
}

// podConditions are the kubelet's conditions with the given readiness.
func podConditions(t metav1.Time, ready corev1.ConditionStatus, reason string) []corev1.PodCondition {
	return []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: t},
		{Type: corev1.ContainersReady, Status: ready, Reason: reason, LastTransitionTime: t},
		{Type: corev1.PodReady, Status: ready, Reason: reason, LastTransitionTime: t},
	}
}
