package job

import (
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxGeneratedNameLength is the longest generateName prefix the API server
// keeps before appending its five random characters (63 - 5).
const maxGeneratedNameLength = 58

// jobKind is the group/version/kind written into the controller references of
// the pods this controller creates or adopts.
var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

func hasTrackingFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isPodTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// isPodActive reports a pod that is neither terminal nor being deleted.
func isPodActive(p *corev1.Pod) bool {
	return !isPodTerminal(p) && p.DeletionTimestamp == nil
}

// isPodTerminating reports a pod that is being deleted but has not reached a
// terminal phase yet.
func isPodTerminating(p *corev1.Pod) bool {
	return !isPodTerminal(p) && p.DeletionTimestamp != nil
}

func filterPods(pods []*corev1.Pod, keep func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if isPodReady(p) {
			n++
		}
	}
	return n
}

func countTerminating(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if isPodTerminating(p) {
			n++
		}
	}
	return n
}

// onlyReplaceFailedPods reports whether replacements wait for the old pod to
// reach phase Failed (podReplacementPolicy Failed, implied by a
// podFailurePolicy).
func onlyReplaceFailedPods(job *batchv1.Job) bool {
	if job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed {
		return true
	}
	return job.Spec.PodFailurePolicy != nil
}

// isPodFailed reports whether the pod counts as failed for the Job: phase
// Failed, or, unless only failed pods are replaced, being deleted before it
// succeeded.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// sortActivePods orders pods so that the ones cheapest to lose come first:
// unscheduled before scheduled, pending before running, not ready before
// ready, recently ready before long ready, more restarts before fewer, newer
// before older.
func sortActivePods(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return activePodLess(pods[i], pods[j]) })
}

func activePodLess(a, b *corev1.Pod) bool {
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	rank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	if rank[a.Status.Phase] != rank[b.Status.Phase] {
		return rank[a.Status.Phase] < rank[b.Status.Phase]
	}
	ra, rb := isPodReady(a), isPodReady(b)
	if ra != rb {
		return !ra
	}
	if ra && rb {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(&tb) {
			return afterOrZero(ta, tb)
		}
	}
	if ma, mb := maxRestarts(a), maxRestarts(b); ma != mb {
		return ma > mb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return afterOrZero(a.CreationTimestamp, b.CreationTimestamp)
	}
	return false
}

// afterOrZero reports t1 after t2, where a zero time counts as the latest.
func afterOrZero(t1, t2 metav1.Time) bool {
	if t1.IsZero() || t2.IsZero() {
		return t1.IsZero()
	}
	return t1.After(t2.Time)
}

func readyTime(p *corev1.Pod) metav1.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime
		}
	}
	return metav1.Time{}
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, c := range p.Status.ContainerStatuses {
		m = max(m, c.RestartCount)
	}
	return m
}

// podsPrefix is the generateName of a NonIndexed Job's pods: "<job>-", or
// just "<job>" when "<job>-" is not a valid name prefix.
func podsPrefix(jobName string) string {
	prefix := jobName + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return jobName
	}
	return prefix
}

// indexedPodsPrefix is the generateName of an Indexed Job's pod,
// "<job>-<index>-", shortened so the server's random suffix still fits while
// "-<index>-" is kept.
func indexedPodsPrefix(jobName string, index int) string {
	suffix := "-" + itoa(index) + "-"
	prefix := jobName + suffix
	if len(prefix) > maxGeneratedNameLength {
		prefix = prefix[:maxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}

// newControllerRef is the owner reference stamped on created and adopted pods.
func newControllerRef(job *batchv1.Job) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{
		APIVersion:         jobKind.GroupVersion().String(),
		Kind:               jobKind.Kind,
		Name:               job.Name,
		UID:                job.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

// podFromTemplate builds the pod the Job creates: the template's labels,
// annotations, finalizers and spec, the controller reference and a
// generateName.
func podFromTemplate(job *batchv1.Job, tmpl *corev1.PodTemplateSpec, generateName string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       job.Namespace,
			GenerateName:    generateName,
			Labels:          copyMap(tmpl.Labels),
			Annotations:     copyMap(tmpl.Annotations),
			Finalizers:      append([]string(nil), tmpl.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*newControllerRef(job)},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	return pod
}

func copyMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
