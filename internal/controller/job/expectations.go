package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a Job waits for pod events that may have
// been lost; after it the Job is synced anyway, as upstream does.
const expectationsTTL = 5 * time.Minute

// podExpectations counts, per Job, the pod creations and deletions the
// controller issued but the informer has not shown yet. A Job whose
// expectations are not met is not given new pods, so a stale cache never
// leads to duplicate pods.
type podExpectations struct {
	clock clock.PassiveClock
	// mu guards byJob; event handlers and workers update it concurrently.
	mu    sync.Mutex
	byJob map[cache.ObjectName]*expectation
}

type expectation struct {
	adds, dels int
	since      time.Time
}

func newPodExpectations(clk clock.PassiveClock) *podExpectations {
	return &podExpectations{clock: clk, byJob: map[cache.ObjectName]*expectation{}}
}

// satisfied reports whether the Job has no outstanding creations or
// deletions, or has waited for them longer than expectationsTTL.
func (e *podExpectations) satisfied(key cache.ObjectName) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byJob[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && x.dels <= 0) || e.clock.Since(x.since) > expectationsTTL
}

// expect replaces the Job's expectations.
func (e *podExpectations) expect(key cache.ObjectName, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byJob[key] = &expectation{adds: adds, dels: dels, since: e.clock.Now()}
}

func (e *podExpectations) observe(key cache.ObjectName, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byJob[key]; ok {
		x.adds -= adds
		x.dels -= dels
	}
}

func (e *podExpectations) creationObserved(key cache.ObjectName) { e.observe(key, 1, 0) }
func (e *podExpectations) deletionObserved(key cache.ObjectName) { e.observe(key, 0, 1) }

func (e *podExpectations) forget(key cache.ObjectName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byJob, key)
}

// finalizerExpectations holds, per Job, the UIDs of pods whose tracking
// finalizer the controller removed but the informer still shows. Such pods
// are never counted twice.
type finalizerExpectations struct {
	// mu guards byJob; event handlers and workers update it concurrently.
	mu    sync.Mutex
	byJob map[cache.ObjectName]sets.Set[types.UID]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{byJob: map[cache.ObjectName]sets.Set[types.UID]{}}
}

func (f *finalizerExpectations) expectRemoved(key cache.ObjectName, uids []types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.byJob[key]
	if !ok {
		s = sets.New[types.UID]()
		f.byJob[key] = s
	}
	s.Insert(uids...)
}

func (f *finalizerExpectations) removalObserved(key cache.ObjectName, uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.byJob[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(f.byJob, key)
		}
	}
}

// expected returns a copy of the Job's pending UIDs.
func (f *finalizerExpectations) expected(key cache.ObjectName) sets.Set[types.UID] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byJob[key].Clone()
}

func (f *finalizerExpectations) forget(key cache.ObjectName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byJob, key)
}
