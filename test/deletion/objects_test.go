package deletion

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
)

// pendingJob is the spec's "base job" whose pods no node will take.
func pendingJob(name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			NodeSelector:  map[string]string{absentLabel: "true"},
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		}}},
	}
}

// pendingPod is a bare pod no node will take.
func pendingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{absentLabel: "true"},
			Containers:   []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
}

// ownerRef is a reference to a Job.
func ownerRef(name string, uid types.UID, controller, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: uid, Controller: &controller, BlockOwnerDeletion: &block}
}

// randomUID is a uid no object has.
func randomUID() types.UID { return uuid.NewUUID() }

func (e *env) createJob(job *batchv1.Job) *batchv1.Job {
	e.t.Helper()
	out, err := e.ts.Client.BatchV1().Jobs(e.ns).Create(e.ctx, job, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating job %s: %v", job.Name, err)
	}
	return out
}

func (e *env) createPod(pod *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	out, err := e.ts.Client.CoreV1().Pods(e.ns).Create(e.ctx, pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return out
}

func (e *env) getJob(name string) (*batchv1.Job, error) {
	return e.ts.Client.BatchV1().Jobs(e.ns).Get(e.ctx, name, metav1.GetOptions{})
}

func (e *env) getPod(name string) (*corev1.Pod, error) {
	return e.ts.Client.CoreV1().Pods(e.ns).Get(e.ctx, name, metav1.GetOptions{})
}

// jobPods lists the pods carrying job's controller-uid label.
func (e *env) jobPods(job *batchv1.Job) []corev1.Pod {
	e.t.Helper()
	sel := labels.Set{batchv1.ControllerUidLabel: string(job.UID)}.String()
	list, err := e.ts.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		e.t.Fatalf("listing pods of job %s: %v", job.Name, err)
	}
	return list.Items
}

// waitJobPods waits until job has exactly n pods and returns them.
func (e *env) waitJobPods(job *batchv1.Job, n int) []corev1.Pod {
	e.t.Helper()
	var pods []corev1.Pod
	e.poll(fmt.Sprintf("%d pods of job %s", n, job.Name), func() (bool, error) {
		pods = e.jobPods(job)
		return len(pods) == n, nil
	})
	return pods
}

// waitJob waits until fn holds for the live Job.
func (e *env) waitJob(name, what string, fn func(*batchv1.Job) bool) *batchv1.Job {
	e.t.Helper()
	var job *batchv1.Job
	e.poll("job "+name+": "+what, func() (bool, error) {
		j, err := e.getJob(name)
		if err != nil {
			return false, err
		}
		job = j
		return fn(j), nil
	})
	return job
}

// waitGone waits until GET of the job or pod answers 404.
func (e *env) waitGone(resource, name string) {
	e.t.Helper()
	e.poll(resource+" "+name+" gone", func() (bool, error) {
		var err error
		switch resource {
		case "jobs":
			_, err = e.getJob(name)
		case "pods":
			_, err = e.getPod(name)
		default:
			return false, fmt.Errorf("unknown resource %s", resource)
		}
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// findCondition returns the Job condition of type typ, or nil.
func findCondition(job *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == typ {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// event is one recorded watch event.
type event struct {
	Type watch.EventType
	Obj  metav1.Object
	RV   int64
}

// recorder collects the events of one watch until the test ends.
type recorder struct {
	mu  sync.Mutex
	evs []event
	err error
}

// watchPods records pod events in the namespace from now on.
func (e *env) watchPods() *recorder {
	e.t.Helper()
	list, err := e.ts.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("listing pods: %v", err)
	}
	w, err := e.ts.Client.CoreV1().Pods(e.ns).Watch(e.ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		e.t.Fatalf("watching pods: %v", err)
	}
	return e.record(w)
}

// watchJobs records job events in the namespace from now on.
func (e *env) watchJobs() *recorder {
	e.t.Helper()
	list, err := e.ts.Client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("listing jobs: %v", err)
	}
	w, err := e.ts.Client.BatchV1().Jobs(e.ns).Watch(e.ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		e.t.Fatalf("watching jobs: %v", err)
	}
	return e.record(w)
}

func (e *env) record(w watch.Interface) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				r.mu.Lock()
				r.err = apierrors.FromObject(ev.Object)
				r.mu.Unlock()
				continue
			}
			acc, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			rv, _ := strconv.ParseInt(acc.GetResourceVersion(), 10, 64)
			r.mu.Lock()
			r.evs = append(r.evs, event{Type: ev.Type, Obj: acc, RV: rv})
			r.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return r
}

// of returns the recorded events of the object named name.
func (r *recorder) of(name string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, ev := range r.evs {
		if ev.Obj.GetName() == name {
			out = append(out, ev)
		}
	}
	return out
}

// deleted returns the DELETED event of name, or nil.
func (r *recorder) deleted(name string) *event {
	for _, ev := range r.of(name) {
		if ev.Type == watch.Deleted {
			return &ev
		}
	}
	return nil
}

// waitDeleted waits for the DELETED event of name on r and returns it.
func (e *env) waitDeleted(r *recorder, kind, name string) event {
	e.t.Helper()
	var ev *event
	e.poll("DELETED event of "+kind+" "+name, func() (bool, error) {
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("watch error: %w", err)
		}
		ev = r.deleted(name)
		return ev != nil, nil
	})
	return *ev
}

// events returns a copy of everything recorded so far.
func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}
