package job

import (
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
)

// writtenJobs remembers the Job objects the controller itself wrote through
// jobs/status until the informer shows them. Syncing from a cache that still
// shows the version our write replaced would only end in a 409 Conflict and
// a retry; upstream hides this behind a 1s batch period, Skiff by reading its
// own write.
type writtenJobs struct {
	// mu guards byJob; workers of different Jobs write concurrently.
	mu    sync.Mutex
	byJob map[cache.ObjectName]writtenJob
}

type writtenJob struct {
	// superseded holds the resourceVersions our writes replaced.
	superseded sets.Set[string]
	job        *batchv1.Job
}

func newWrittenJobs() *writtenJobs {
	return &writtenJobs{byJob: map[cache.ObjectName]writtenJob{}}
}

// record notes that the Job at resourceVersion base was replaced by written.
func (w *writtenJobs) record(key cache.ObjectName, base string, written *batchv1.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, ok := w.byJob[key]
	if !ok || rec.job.UID != written.UID {
		rec = writtenJob{superseded: sets.New[string]()}
	}
	rec.superseded.Insert(base)
	rec.job = written
	w.byJob[key] = rec
}

// fresher returns our own newer write when cached still shows a version it
// replaced; otherwise cached, dropping a record the cache has caught up with.
// The returned object is shared and must not be mutated.
func (w *writtenJobs) fresher(key cache.ObjectName, cached *batchv1.Job) *batchv1.Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, ok := w.byJob[key]
	if !ok {
		return cached
	}
	if rec.job.UID == cached.UID && rec.superseded.Has(cached.ResourceVersion) {
		return rec.job
	}
	delete(w.byJob, key)
	return cached
}

func (w *writtenJobs) forget(key cache.ObjectName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byJob, key)
}
