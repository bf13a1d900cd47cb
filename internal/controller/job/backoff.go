package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// backoffRecord counts the pod failures of a Job since its last success; it
// paces replacement pods.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailureTime          *time.Time
}

// backoffStore keeps one backoffRecord per Job. Records are kept in memory
// only, as upstream does: a restart forgets the back-off.
type backoffStore struct {
	// mu guards records; workers of different Jobs use the store at once.
	mu      sync.Mutex
	records map[cache.ObjectName]backoffRecord
}

func newBackoffStore() *backoffStore {
	return &backoffStore{records: map[cache.ObjectName]backoffRecord{}}
}

func (s *backoffStore) get(key cache.ObjectName) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[key]
}

func (s *backoffStore) set(key cache.ObjectName, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = r
}

func (s *backoffStore) remove(key cache.ObjectName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}

// next returns the record after the newly finished pods are taken into
// account: a success resets the count to the failures that finished after it.
func (s *backoffStore) next(key cache.ObjectName, succeeded, failed []*corev1.Pod) backoffRecord {
	rec := s.get(key)
	sortByFinishedTime(succeeded)
	sortByFinishedTime(failed)
	if len(succeeded) == 0 {
		if len(failed) == 0 {
			return rec
		}
		rec.failuresAfterLastSuccess += int32(len(failed))
		t := finishedTime(failed[len(failed)-1])
		rec.lastFailureTime = &t
		return rec
	}
	rec = backoffRecord{}
	lastSuccess := finishedTime(succeeded[len(succeeded)-1])
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishedTime(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if rec.lastFailureTime == nil {
			rec.lastFailureTime = &t
		}
		rec.failuresAfterLastSuccess++
	}
	return rec
}

func sortByFinishedTime(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return finishedTime(pods[i]).Before(finishedTime(pods[j])) })
}

// finishedTime estimates when a pod finished: the latest container
// termination, else the Ready=False transition, else its deletion time minus
// the grace period, else its creation time.
func finishedTime(p *corev1.Pod) time.Time {
	if t := containersFinishTime(p); t != nil {
		return *t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		var grace int64
		if p.DeletionGracePeriodSeconds != nil {
			grace = *p.DeletionGracePeriodSeconds
		}
		return p.DeletionTimestamp.Add(-time.Duration(grace) * time.Second)
	}
	return p.CreationTimestamp.Time
}

// containersFinishTime is the latest finish time of the regular containers
// and sidecars (restartable init containers), or nil if any is not finished.
func containersFinishTime(p *corev1.Pod) *time.Time {
	var latest *time.Time
	consider := func(cs corev1.ContainerStatus) bool {
		t := cs.State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			return false
		}
		if latest == nil || latest.Before(t.FinishedAt.Time) {
			ft := t.FinishedAt.Time
			latest = &ft
		}
		return true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !consider(cs) {
			return nil
		}
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if sidecars[cs.Name] && !consider(cs) {
			return nil
		}
	}
	return latest
}

// backoffDelay returns how long to wait before creating a pod after
// failures consecutive failures, the last at lastFailure: base*2^(failures-1),
// capped, minus the time already passed.
func backoffDelay(clk clock.PassiveClock, base, limit time.Duration, failures int32, lastFailure *time.Time) time.Duration {
	if failures == 0 || lastFailure == nil {
		return 0
	}
	d := base
	for i := int32(1); i < failures; i++ {
		d *= 2
		if d >= limit {
			d = limit
			break
		}
	}
	elapsed := clk.Since(*lastFailure)
	if d < elapsed {
		return 0
	}
	return d - elapsed
}
