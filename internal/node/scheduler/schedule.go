package scheduler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Filter failure reasons, upstream's texts.
const (
	reasonUnschedulableNode = "node(s) were unschedulable"
	reasonAffinity          = "node(s) didn't match Pod's node affinity/selector"
	reasonTooManyPods       = "Too many pods"
	msgNoNodes              = "no nodes available to schedule pods"
)

// usage is what the pods bound to a node request.
type usage struct {
	requests corev1.ResourceList
	pods     int64
}

func (u *usage) add(req corev1.ResourceList) {
	u.pods++
	for k, v := range req {
		cur := u.requests[k]
		cur.Add(v)
		u.requests[k] = cur
	}
}

// decision is the outcome for one pod of a batch.
type decision struct {
	key  cache.ObjectName
	pod  *corev1.Pod
	node string // "" when unschedulable
	msg  string
}

// loop takes batches of keys off the queue and schedules them.
func (s *Scheduler) loop(ctx context.Context) {
	for {
		key, shutdown := s.queue.Get()
		if shutdown {
			return
		}
		batch := []cache.ObjectName{key}
		for s.queue.Len() > 0 && len(batch) < s.cfg.BatchSize {
			k, shutdown := s.queue.Get()
			if shutdown {
				break
			}
			batch = append(batch, k)
		}
		s.scheduleBatch(ctx, batch)
	}
}

// scheduleBatch decides every pod of the batch against one snapshot of node
// usage (updated as pods are placed), then binds in parallel.
func (s *Scheduler) scheduleBatch(ctx context.Context, batch []cache.ObjectName) {
	nodes, _ := s.nodeLister.List(labels.Everything())
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	use := s.nodeUsage()
	var decisions []decision
	for _, key := range batch {
		pod, err := s.podLister.Pods(key.Namespace).Get(key.Name)
		if err != nil || !needsScheduling(pod) {
			s.queue.Forget(key)
			s.queue.Done(key)
			continue
		}
		d := decision{key: key, pod: pod}
		d.node, d.msg = pickNode(pod, nodes, use)
		if d.node != "" {
			s.mu.Lock()
			s.assumed[pod.UID] = assumedPod{node: d.node, pod: pod}
			s.mu.Unlock()
		}
		decisions = append(decisions, d)
	}
	sem := make(chan struct{}, s.cfg.Parallelism)
	var wg sync.WaitGroup
	for _, d := range decisions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.apply(ctx, d)
		}()
	}
	wg.Wait()
}

// apply binds a placed pod or reports an unschedulable one.
func (s *Scheduler) apply(ctx context.Context, d decision) {
	defer s.queue.Done(d.key)
	if d.node == "" {
		s.mu.Lock()
		s.unschedulable[d.key] = true
		s.mu.Unlock()
		s.markUnschedulable(ctx, d.pod, d.msg)
		s.queue.Forget(d.key)
		return
	}
	if !s.stillNeedsScheduling(d.pod) {
		// Deleted (or bound) since the batch was decided: upstream's
		// scheduler skips a pod being deleted, and a binding would only
		// get 409 or start containers that must be stopped at once.
		s.queue.Forget(d.key)
		s.mu.Lock()
		delete(s.assumed, d.pod.UID)
		s.mu.Unlock()
		return
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: d.pod.Name, Namespace: d.pod.Namespace, UID: d.pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: d.node},
	}
	err := s.client.CoreV1().Pods(d.pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		s.queue.Forget(d.key)
		if err != nil {
			s.mu.Lock()
			delete(s.assumed, d.pod.UID)
			s.mu.Unlock()
		} else {
			s.recorder.Eventf(d.pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", d.pod.Namespace, d.pod.Name, d.node)
		}
		s.logger.Debug("pod bound", "pod", d.key.String(), "node", d.node, "err", err)
		return
	}
	s.mu.Lock()
	delete(s.assumed, d.pod.UID)
	s.mu.Unlock()
	if ctx.Err() == nil {
		s.logger.Warn("binding pod failed, retrying", "pod", d.key.String(), "node", d.node, "err", err)
		s.queue.AddRateLimited(d.key)
	}
}

// stillNeedsScheduling reads pod again from the cache: a batch of a
// thousand pods takes a while to bind, and the pods at its end may have
// changed since it was decided.
func (s *Scheduler) stillNeedsScheduling(pod *corev1.Pod) bool {
	cur, err := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	return err == nil && cur.UID == pod.UID && needsScheduling(cur)
}

// markUnschedulable sets PodScheduled=False/Unschedulable (when it changed)
// and records a FailedScheduling event.
func (s *Scheduler) markUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg {
			return
		}
	}
	upd := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.Now().Rfc3339Copy(), ObservedGeneration: pod.Generation}
	replaced := false
	for i := range upd.Status.Conditions {
		if upd.Status.Conditions[i].Type == corev1.PodScheduled {
			if upd.Status.Conditions[i].Status == cond.Status {
				cond.LastTransitionTime = upd.Status.Conditions[i].LastTransitionTime
			}
			upd.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		upd.Status.Conditions = append(upd.Status.Conditions, cond)
	}
	if upd.Status.Phase == "" {
		upd.Status.Phase = corev1.PodPending
	}
	if _, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		s.logger.Debug("recording unschedulable condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// nodeUsage sums the requests of the non-terminal pods on each node, plus
// the pods this scheduler bound that the cache does not show yet.
func (s *Scheduler) nodeUsage() map[string]*usage {
	out := map[string]*usage{}
	get := func(node string) *usage {
		u := out[node]
		if u == nil {
			u = &usage{requests: corev1.ResourceList{}}
			out[node] = u
		}
		return u
	}
	pods, _ := s.podLister.List(labels.Everything())
	for _, p := range pods {
		if p.Spec.NodeName != "" && !terminal(p) {
			get(p.Spec.NodeName).add(podRequests(p))
		}
	}
	s.mu.Lock()
	for _, a := range s.assumed {
		get(a.node).add(podRequests(a.pod))
	}
	s.mu.Unlock()
	return out
}

func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

// pickNode returns the least loaded node the pod fits on, or "" and the
// upstream FitError message.
func pickNode(pod *corev1.Pod, nodes []*corev1.Node, use map[string]*usage) (string, string) {
	if len(nodes) == 0 {
		return "", msgNoNodes
	}
	req := podRequests(pod)
	reasons := map[string]int{}
	best, bestLoad := "", 0.0
	for _, n := range nodes {
		u := use[n.Name]
		if u == nil {
			u = &usage{requests: corev1.ResourceList{}}
			use[n.Name] = u
		}
		if rs := filter(pod, n, u, req); len(rs) > 0 {
			for _, r := range rs {
				reasons[r]++
			}
			continue
		}
		load := loadAfter(n, u, req)
		if best == "" || load < bestLoad {
			best, bestLoad = n.Name, load
		}
	}
	if best == "" {
		return "", fitMessage(len(nodes), reasons)
	}
	use[best].add(req)
	return best, ""
}

// fitMessage is upstream's FitError text, e.g. "0/1 nodes are available:
// 1 Insufficient cpu." (Skiff does not preempt, so no preemption part).
func fitMessage(numNodes int, reasons map[string]int) string {
	list := make([]string, 0, len(reasons))
	for r, n := range reasons {
		list = append(list, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(list)
	return fmt.Sprintf("0/%d nodes are available: %s.", numNodes, strings.Join(list, ", "))
}

// filter runs upstream's filters in their order (NodeUnschedulable,
// TaintToleration, NodeAffinity, NodeResourcesFit) and returns the first
// failing filter's reasons.
func filter(pod *corev1.Pod, n *corev1.Node, u *usage, req corev1.ResourceList) []string {
	tolerates := func(t corev1.Taint) bool {
		return corev1helper.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, &t, false)
	}
	if n.Spec.Unschedulable && !tolerates(corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return []string{reasonUnschedulableNode}
	}
	taints := n.Spec.Taints
	if !nodeReady(n) {
		taints = append(append([]corev1.Taint{}, taints...), corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
	}
	for _, t := range taints {
		if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !tolerates(t) {
			return []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)}
		}
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(n); err != nil || !ok {
		return []string{reasonAffinity}
	}
	return fitResources(n, u, req)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// fitResources is NodeResourcesFit: pod count, then each requested resource.
func fitResources(n *corev1.Node, u *usage, req corev1.ResourceList) []string {
	alloc := n.Status.Allocatable
	var out []string
	if u.pods+1 > alloc.Pods().Value() {
		out = append(out, reasonTooManyPods)
	}
	names := make([]string, 0, len(req))
	for name := range req {
		names = append(names, string(name))
	}
	sort.Slice(names, func(i, j int) bool { return resourceOrder(names[i]) < resourceOrder(names[j]) })
	for _, name := range names {
		rn := corev1.ResourceName(name)
		want := req[rn]
		if rn == corev1.ResourcePods || want.IsZero() {
			continue
		}
		free := alloc[rn].DeepCopy()
		used := u.requests[rn]
		free.Sub(used)
		if want.Cmp(free) > 0 {
			out = append(out, "Insufficient "+name)
		}
	}
	return out
}

func resourceOrder(name string) string {
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU:
		return "0"
	case corev1.ResourceMemory:
		return "1"
	case corev1.ResourceEphemeralStorage:
		return "2"
	}
	return "3" + name
}

// loadAfter is the node's CPU (or, without CPU, pod-count) fill ratio
// after placing req: lower is better (LeastAllocated).
func loadAfter(n *corev1.Node, u *usage, req corev1.ResourceList) float64 {
	alloc := n.Status.Allocatable
	if cpu := alloc.Cpu().MilliValue(); cpu > 0 {
		used := u.requests[corev1.ResourceCPU]
		total := used.DeepCopy()
		total.Add(req[corev1.ResourceCPU])
		return float64(total.MilliValue())/float64(cpu) + float64(u.pods)/1e6
	}
	if p := alloc.Pods().Value(); p > 0 {
		return float64(u.pods+1) / float64(p)
	}
	return float64(u.pods)
}
