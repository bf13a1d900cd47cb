package node

import (
	"bufio"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// maxPods is the kubelet's default pod capacity.
const maxPods = 110

// allocatable is the node's capacity (host CPUs and memory, 110 pods, with
// Config.Capacity overrides); Skiff reserves nothing, so allocatable equals it.
func (a *Agent) allocatable() corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(hostMemory(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	for k, v := range a.cfg.Capacity {
		out[k] = v.DeepCopy()
	}
	return out
}

func hostMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// registerNode creates the Node (or takes over an existing one of that
// name) and posts its status.
// registerWithRetry registers the node, retrying with back-off as the
// kubelet does: a transient error (a conflict, a slow server) must not end
// the agent, and with it the server. It fails only when ctx ends.
func (a *Agent) registerWithRetry(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := a.registerNode(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		a.logger.Warn("registering the node failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return err
		case <-a.clock.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName}}
		a.setNodeMeta(node)
		a.setNodeStatus(node)
		node, err = nodes.Create(ctx, node, metav1.CreateOptions{})
	} else if err == nil {
		a.setNodeMeta(node)
		node, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("node agent: registering node %s: %w", a.cfg.NodeName, err)
	}
	if err := a.updateNodeStatus(ctx, node); err != nil {
		return err
	}
	if err := a.renewLease(ctx, node); err != nil {
		return err
	}
	a.logger.Info("node registered", "uid", string(node.UID))
	return nil
}

func (a *Agent) setNodeMeta(node *corev1.Node) {
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k, v := range a.cfg.Labels {
		node.Labels[k] = v
	}
	node.Labels[corev1.LabelHostname] = a.cfg.NodeName
	node.Labels[corev1.LabelOSStable] = goruntime.GOOS
	node.Labels[corev1.LabelArchStable] = goruntime.GOARCH
}

// setNodeStatus fills the status the kubelet reports.
func (a *Agent) setNodeStatus(node *corev1.Node) {
	now := metav1.NewTime(a.clock.Now()).Rfc3339Copy()
	alloc := a.allocatable()
	node.Status.Capacity, node.Status.Allocatable = alloc, alloc.DeepCopy()
	node.Status.Phase = corev1.NodeRunning
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP}, {Type: corev1.NodeHostName, Address: a.cfg.NodeName}}
	node.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 0}}
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		MachineID: readTrimmed("/etc/machine-id"), SystemUUID: readTrimmed("/sys/class/dmi/id/product_uuid"),
		BootID: readTrimmed("/proc/sys/kernel/random/boot_id"), KernelVersion: readTrimmed("/proc/sys/kernel/osrelease"),
		OSImage: osImage(), ContainerRuntimeVersion: a.cfg.RuntimeVersion, KubeletVersion: KubeletVersion,
		OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime, conds[i].LastTransitionTime = now, now
		for _, old := range node.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status && !old.LastTransitionTime.IsZero() {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = conds
}

func (a *Agent) updateNodeStatus(ctx context.Context, node *corev1.Node) error {
	node = node.DeepCopy()
	a.setNodeStatus(node)
	if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node agent: updating node status: %w", err)
	}
	return nil
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (a *Agent) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(a.clock.Now())
	spec := coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName),
		LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)), RenewTime: &now}
	lease, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease}, Spec: spec}
		if node != nil {
			lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	} else if err == nil {
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = spec.HolderIdentity, spec.LeaseDurationSeconds, spec.RenewTime
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("node agent: renewing lease: %w", err)
	}
	return nil
}

// heartbeat renews the Lease every LeaseRenewInterval and re-posts node
// status every NodeStatusInterval until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	leaseTick := a.clock.NewTicker(a.cfg.LeaseRenewInterval)
	defer leaseTick.Stop()
	statusTick := a.clock.NewTicker(a.cfg.NodeStatusInterval)
	defer statusTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C():
			node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if err == nil {
				err = a.renewLease(ctx, node)
			}
			if err != nil && ctx.Err() == nil {
				a.logger.Warn("lease renewal failed", "err", err)
			}
		case <-statusTick.C():
			node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				err = a.registerNode(ctx) // someone deleted the Node: register again
			} else if err == nil {
				err = a.updateNodeStatus(ctx, node)
			}
			if err != nil && ctx.Err() == nil {
				a.logger.Warn("node status update failed", "err", err)
			}
		}
	}
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// osImage is PRETTY_NAME from os-release, as the kubelet reports it.
func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return goruntime.GOOS
}
