package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// getReadySchedulableNodes lists nodes as e2enode.GetReadySchedulableNodes
// does: the spec.unschedulable=false field selector, then Ready, no
// NetworkUnavailable and no NoSchedule/NoExecute taints.
func getReadySchedulableNodes(ctx context.Context, cs kubernetes.Interface) ([]corev1.Node, error) {
	sel := fields.Set{"spec.unschedulable": "false"}.AsSelector().String()
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing schedulable nodes: %w", err)
	}
	var out []corev1.Node
	for _, n := range list.Items {
		if isNodeSchedulable(&n) && isNodeUntainted(&n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("there are currently no ready, schedulable nodes in the cluster")
	}
	return out, nil
}

// getRandomReadySchedulableNode is e2enode.GetRandomReadySchedulableNode.
func (f *framework) getRandomReadySchedulableNode() *corev1.Node {
	f.t.Helper()
	nodes, err := getReadySchedulableNodes(f.ctx, f.cs)
	if err != nil {
		f.t.Fatal(err)
	}
	return &nodes[rand.IntN(len(nodes))]
}

// isNodeSchedulable is e2enode.IsNodeSchedulable.
func isNodeSchedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	ready, network := false, true
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			ready = c.Status == corev1.ConditionTrue
		case corev1.NodeNetworkUnavailable:
			network = c.Status == corev1.ConditionFalse
		}
	}
	return ready && network
}

// isNodeUntainted reports whether a pod without tolerations may run on n.
func isNodeUntainted(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}
