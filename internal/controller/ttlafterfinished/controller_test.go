package ttlafterfinished

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordingQueue records the delays passed to AddAfter.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[cache.ObjectName]
	mu    sync.Mutex // guards after, appended by worker goroutines
	after []time.Duration
}

func (q *recordingQueue) AddAfter(key cache.ObjectName, d time.Duration) {
	q.mu.Lock()
	q.after = append(q.after, d)
	q.mu.Unlock()
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

func (q *recordingQueue) delays() []time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]time.Duration(nil), q.after...)
}

type jobOpt func(*batchv1.Job)

func newJob(opts ...jobOpt) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pi", UID: "job-uid"}}
	for _, o := range opts {
		o(j)
	}
	return j
}

func ttl(s int32) jobOpt { return func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = &s } }

func finished(typ batchv1.JobConditionType, at time.Time) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{
			Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)})
	}
}

func deleting() jobOpt {
	return func(j *batchv1.Job) { ts := metav1.NewTime(now); j.DeletionTimestamp = &ts }
}

func withUID(uid types.UID) jobOpt { return func(j *batchv1.Job) { j.UID = uid } }

func TestController_ProcessJob_Cases(t *testing.T) {
	t.Parallel()
	foreground := metav1.DeletePropagationForeground
	uid := types.UID("job-uid")
	wantDelete := []metav1.DeleteOptions{{PropagationPolicy: &foreground, Preconditions: &metav1.Preconditions{UID: &uid}}}
	tests := map[string]struct {
		cached, live *batchv1.Job
		wantDeletes  []metav1.DeleteOptions
		wantRequeue  time.Duration
	}{
		"an expired complete job is deleted in the foreground with a uid precondition": {
			cached:      newJob(ttl(3), finished(batchv1.JobComplete, now.Add(-3*time.Second))),
			live:        newJob(ttl(3), finished(batchv1.JobComplete, now.Add(-3*time.Second))),
			wantDeletes: wantDelete,
		},
		"an expired failed job is deleted": {
			cached:      newJob(ttl(0), finished(batchv1.JobFailed, now.Add(-time.Second))),
			live:        newJob(ttl(0), finished(batchv1.JobFailed, now.Add(-time.Second))),
			wantDeletes: wantDelete,
		},
		"a job whose ttl has not expired is requeued for the rest": {
			cached:      newJob(ttl(10), finished(batchv1.JobComplete, now.Add(-4*time.Second))),
			live:        newJob(ttl(10), finished(batchv1.JobComplete, now.Add(-4*time.Second))),
			wantRequeue: 6 * time.Second,
		},
		"a live ttl longer than the cached one defers the delete": {
			cached:      newJob(ttl(1), finished(batchv1.JobComplete, now.Add(-5*time.Second))),
			live:        newJob(ttl(60), finished(batchv1.JobComplete, now.Add(-5*time.Second))),
			wantRequeue: 55 * time.Second,
		},
		"a job already being deleted is left alone": {
			cached: newJob(ttl(0), finished(batchv1.JobComplete, now.Add(-time.Minute)), deleting()),
			live:   newJob(ttl(0), finished(batchv1.JobComplete, now.Add(-time.Minute)), deleting()),
		},
		"a job without ttl is left alone": {
			cached: newJob(finished(batchv1.JobComplete, now.Add(-time.Minute))),
			live:   newJob(finished(batchv1.JobComplete, now.Add(-time.Minute))),
		},
		"an unfinished job is left alone": {
			cached: newJob(ttl(0)),
			live:   newJob(ttl(0)),
		},
		"a job recreated under the same name is checked by its own ttl": {
			cached:      newJob(ttl(0), finished(batchv1.JobComplete, now.Add(-time.Minute))),
			live:        newJob(withUID("other-uid"), ttl(0)),
			wantDeletes: nil,
		},
		"a job gone live is done": {
			cached: newJob(ttl(0), finished(batchv1.JobComplete, now.Add(-time.Minute))),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			if tc.live != nil {
				client = fake.NewClientset(tc.live)
			}
			clk := clocktesting.NewFakeClock(now)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(Config{Client: client, Informers: factory, Clock: clk})
			if err != nil {
				t.Fatalf("NewController: %v", err)
			}
			rq := &recordingQueue{TypedRateLimitingInterface: c.queue}
			c.queue = rq
			t.Cleanup(c.queue.ShutDown)
			if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(tc.cached); err != nil {
				t.Fatalf("seeding cache: %v", err)
			}
			if err := c.processJob(context.Background(), cache.MetaObjectToName(tc.cached)); err != nil {
				t.Fatalf("processJob: %v", err)
			}
			var deletes []metav1.DeleteOptions
			for _, a := range client.Actions() {
				if d, ok := a.(clienttesting.DeleteActionImpl); ok {
					deletes = append(deletes, d.DeleteOptions)
				}
			}
			if diff := cmp.Diff(tc.wantDeletes, deletes); diff != "" {
				t.Errorf("deletes (-want +got):\n%s", diff)
			}
			var want []time.Duration
			if tc.wantRequeue != 0 {
				want = []time.Duration{tc.wantRequeue}
			}
			if diff := cmp.Diff(want, rq.delays()); diff != "" {
				t.Errorf("requeue delays (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_Run_DeletesAtExpiry(t *testing.T) {
	t.Parallel()
	j := newJob(ttl(3), finished(batchv1.JobComplete, now))
	client := fake.NewClientset(j)
	clk := clocktesting.NewFakeClock(now)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Informers: factory, Clock: clk})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	rq := &recordingQueue{TypedRateLimitingInterface: c.queue}
	c.queue = rq
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 1) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	deletes := func() int {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "delete" {
				n++
			}
		}
		return n
	}
	pollUntil(t, 10*time.Second, "job requeued for its ttl", func() bool { return len(rq.delays()) == 1 })
	if deletes() != 0 {
		t.Fatalf("job deleted before its ttl expired")
	}
	clk.Step(3 * time.Second)
	pollUntil(t, 10*time.Second, "job deleted", func() bool { return deletes() == 1 })
}
