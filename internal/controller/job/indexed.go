package job

import (
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

const (
	completionIndexEnvName = "JOB_COMPLETION_INDEX"
	unknownIndex           = -1
)

func itoa(i int) string { return strconv.Itoa(i) }

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return job.Spec.BackoffLimitPerIndex != nil
}

// completions returns spec.completions, or 0 when it is unset.
func completions(job *batchv1.Job) int {
	if job.Spec.Completions == nil {
		return 0
	}
	return int(*job.Spec.Completions)
}

// interval is a closed range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent index ranges: the
// compressed form of status.completedIndexes and status.failedIndexes.
type intervals []interval

// parseIntervals reads a "1,3-5" list, dropping indexes >= completions and
// skipping corrupt entries.
func parseIntervals(logger *slog.Logger, s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		bounds := strings.Split(part, "-")
		first, err := strconv.Atoi(bounds[0])
		if err != nil {
			logger.Debug("ignoring corrupt index interval", "interval", part, "err", err)
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(bounds) > 1 {
			if last, err = strconv.Atoi(bounds[1]); err != nil {
				logger.Debug("ignoring corrupt index interval", "interval", part, "err", err)
				continue
			}
			last = min(last, completions-1)
		}
		if n := len(out); n > 0 && out[n-1].last == first-1 {
			out[n-1].last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

// withIndexes returns a new list that also holds the given ascending indexes.
func (iv intervals) withIndexes(idx []int) intervals {
	add := make(intervals, 0, len(idx))
	for _, i := range idx {
		add = append(add, interval{i, i})
	}
	return iv.merge(add)
}

// merge returns the union of two lists.
func (iv intervals) merge(other intervals) intervals {
	var out intervals
	push := func(x interval) {
		n := len(out)
		if n == 0 || x.first > out[n-1].last+1 {
			out = append(out, x)
		} else if out[n-1].last < x.last {
			out[n-1].last = x.last
		}
	}
	i, j := 0, 0
	for i < len(iv) && j < len(other) {
		if iv[i].first < other[j].first {
			push(iv[i])
			i++
		} else {
			push(other[j])
			j++
		}
	}
	for ; i < len(iv); i++ {
		push(iv[i])
	}
	for ; j < len(other); j++ {
		push(other[j])
	}
	return out
}

func (iv intervals) total() int {
	n := 0
	for _, x := range iv {
		n += x.last - x.first + 1
	}
	return n
}

func (iv intervals) has(ix int) bool {
	k := sort.Search(len(iv), func(i int) bool { return iv[i].last >= ix })
	return k < len(iv) && iv[k].first <= ix
}

func (iv intervals) String() string {
	var b strings.Builder
	for _, x := range iv {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x.first))
		switch {
		case x.last == x.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(x.last))
		case x.last > x.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(x.last))
		}
	}
	return b.String()
}

// completionIndex reads the pod's completion-index annotation, or
// unknownIndex when it is missing or invalid.
func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return unknownIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownIndex
	}
	return i
}

// validIndex reports an index in [0, completions).
func validIndex(job *batchv1.Job, ix int) bool {
	return ix != unknownIndex && ix < completions(job)
}

func indexesOf(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p); ix != unknownIndex {
			out.Insert(ix)
		}
	}
	return out
}

func sortByIndex(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return completionIndex(pods[i]) < completionIndex(pods[j]) })
}

// succeededIndexes returns the indexes recorded in status.completedIndexes
// and those plus the indexes of succeeded pods not counted yet.
func succeededIndexes(logger *slog.Logger, job *batchv1.Job, pods []*corev1.Pod) (prev, cur intervals) {
	prev = parseIntervals(logger, job.Status.CompletedIndexes, completions(job))
	fresh := sets.New[int]()
	for _, p := range pods {
		ix := completionIndex(p)
		if p.Status.Phase == corev1.PodSucceeded && validIndex(job, ix) && hasTrackingFinalizer(p) {
			fresh.Insert(ix)
		}
	}
	return prev, prev.withIndexes(sets.List(fresh))
}

// failedIndexes returns status.failedIndexes plus the indexes whose pods
// used up their per-index backoff limit (or matched a FailIndex rule).
func failedIndexes(logger *slog.Logger, job *batchv1.Job, pods []*corev1.Pod) *intervals {
	var prev intervals
	if job.Status.FailedIndexes != nil {
		prev = parseIntervals(logger, *job.Status.FailedIndexes, completions(job))
	}
	fresh := sets.New[int]()
	for _, p := range pods {
		ix := completionIndex(p)
		if validIndex(job, ix) && hasTrackingFinalizer(p) && isIndexFailed(logger, job, p) {
			fresh.Insert(ix)
		}
	}
	out := prev.withIndexes(sets.List(fresh))
	return &out
}

func isIndexFailed(logger *slog.Logger, job *batchv1.Job, p *corev1.Pod) bool {
	if !isPodFailed(p, job) {
		return false
	}
	counted := true
	if job.Spec.PodFailurePolicy != nil {
		res := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
		if res.action != nil && *res.action == batchv1.PodFailurePolicyActionFailIndex {
			return true
		}
		counted = res.countFailed
	}
	return counted && indexFailureCount(logger, p) >= *job.Spec.BackoffLimitPerIndex
}

// firstPendingIndexes returns up to count indexes below completions that
// have no active pod, did not succeed, did not fail and, when only failed
// pods are replaced, have no terminating pod.
func firstPendingIndexes(st *syncState, count int) []int {
	if count == 0 {
		return nil
	}
	busy := st.succeededIdx.withIndexes(sets.List(indexesOf(st.active)))
	if onlyReplaceFailedPods(st.job) {
		busy = busy.withIndexes(sets.List(indexesOf(filterPods(st.pods, isPodTerminating))))
	}
	if st.failedIdx != nil {
		busy = busy.merge(*st.failedIdx)
	}
	limit := completions(st.job)
	out := make([]int, 0, count)
	candidate := 0
	for _, x := range busy {
		for ; candidate < limit && len(out) < count && candidate < x.first; candidate++ {
			out = append(out, candidate)
		}
		candidate = max(candidate, x.last+1)
	}
	for ; candidate < limit && len(out) < count; candidate++ {
		out = append(out, candidate)
	}
	return out
}

// duplicatedIndexPods splits active pods of an Indexed Job into those to
// remove (no index, an index out of range, or all but the best pod of a
// repeated index) and those to keep.
func duplicatedIndexPods(pods []*corev1.Pod, completions int) (rm, keep []*corev1.Pod) {
	byIndex := map[int][]*corev1.Pod{}
	var order []int
	for _, p := range pods {
		ix := completionIndex(p)
		if ix == unknownIndex || ix >= completions {
			rm = append(rm, p)
			continue
		}
		if _, seen := byIndex[ix]; !seen {
			order = append(order, ix)
		}
		byIndex[ix] = append(byIndex[ix], p)
	}
	sort.Ints(order)
	for _, ix := range order {
		group := byIndex[ix]
		if len(group) > 1 {
			sortActivePods(group)
		}
		rm = append(rm, group[:len(group)-1]...)
		keep = append(keep, group[len(group)-1])
	}
	return rm, keep
}

// podsWithDelayedDeletion picks, per index that is neither succeeded, failed
// nor active, the last failed pod: its finalizer stays until the replacement
// exists, so the replacement can inherit the index failure counts.
func podsWithDelayedDeletion(logger *slog.Logger, st *syncState) map[int]*corev1.Pod {
	activeIdx := indexesOf(st.active)
	out := map[int]*corev1.Pod{}
	for _, p := range st.pods {
		if !st.finalizerPending(p) || !isPodFailed(p, st.job) {
			continue
		}
		ix := completionIndex(p)
		if !validIndex(st.job, ix) || st.succeededIdx.has(ix) || st.failedIdx.hasIndex(ix) || activeIdx.Has(ix) {
			continue
		}
		last, ok := out[ix]
		if !ok || (absoluteFailureCount(logger, last) <= absoluteFailureCount(logger, p) &&
			!finishedTime(p).Before(finishedTime(last))) {
			out[ix] = p
		}
	}
	return out
}

// hasIndex is a nil-safe has for an optional list.
func (iv *intervals) hasIndex(ix int) bool { return iv != nil && iv.has(ix) }

func indexFailureCount(logger *slog.Logger, p *corev1.Pod) int32 {
	return annotationInt32(logger, p, batchv1.JobIndexFailureCountAnnotation)
}

func absoluteFailureCount(logger *slog.Logger, p *corev1.Pod) int32 {
	return indexFailureCount(logger, p) + annotationInt32(logger, p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

func annotationInt32(logger *slog.Logger, p *corev1.Pod, key string) int32 {
	v, ok := p.Annotations[key]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > math.MaxInt32 {
		logger.Debug("ignoring invalid annotation value", "pod", p.Namespace+"/"+p.Name, "annotation", key, "value", v)
		return 0
	}
	return int32(n)
}

// newIndexFailureCounts returns the failure and ignored-failure counts the
// replacement of podBeingReplaced inherits.
func newIndexFailureCounts(logger *slog.Logger, job *batchv1.Job, replaced *corev1.Pod) (int32, int32) {
	if replaced == nil {
		return 0, 0
	}
	failures := indexFailureCount(logger, replaced)
	ignored := annotationInt32(logger, replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
	if job.Spec.PodFailurePolicy != nil && !matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced).countFailed {
		ignored++
	} else {
		failures++
	}
	return failures, ignored
}

// addCompletionIndexEnv adds JOB_COMPLETION_INDEX, read from the
// completion-index label, to every container that does not set it.
func addCompletionIndexEnv(tmpl *corev1.PodTemplateSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{
			Name: completionIndexEnvName,
			ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
				FieldPath: "metadata.labels['" + batchv1.JobCompletionIndexAnnotation + "']",
			}},
		})
	}
	for i := range tmpl.Spec.InitContainers {
		add(&tmpl.Spec.InitContainers[i])
	}
	for i := range tmpl.Spec.Containers {
		add(&tmpl.Spec.Containers[i])
	}
}
