package job

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is a controller over a fake clientset whose informer indexers are
// seeded by hand, as in kubernetes/sample-controller.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	ctrl     *Controller
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	installNameReactor(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	f := &fixture{
		t:        t,
		client:   client,
		clock:    testingclock.NewFakeClock(testNow),
		recorder: record.NewFakeRecorder(1000),
		factory:  factory,
	}
	ctrl, err := NewController(Config{
		Client:          client,
		PodInformer:     factory.Core().V1().Pods(),
		JobInformer:     factory.Batch().V1().Jobs(),
		Recorder:        f.recorder,
		Clock:           f.clock,
		SyncBatchPeriod: -1,
	})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	f.ctrl = ctrl
	for _, o := range objs {
		switch v := o.(type) {
		case *batchv1.Job:
			mustAdd(t, factory.Batch().V1().Jobs().Informer().GetIndexer(), v)
		case *corev1.Pod:
			mustAdd(t, factory.Core().V1().Pods().Informer().GetIndexer(), v)
		}
	}
	return f
}

func mustAdd(t *testing.T, idx cache.Indexer, obj any) {
	t.Helper()
	if err := idx.Add(obj); err != nil {
		t.Fatalf("seeding indexer: %v", err)
	}
}

// installNameReactor makes the fake server behave like the real one where
// the controller relies on it: generateName becomes a name, objects get a
// UID and every write a new resourceVersion.
func installNameReactor(client *fake.Clientset) {
	var seq atomic.Int64
	client.PrependReactor("*", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		var obj runtime.Object
		switch a := action.(type) {
		case k8stesting.CreateAction:
			obj = a.GetObject()
		case k8stesting.UpdateAction:
			obj = a.GetObject()
		default:
			return false, nil, nil
		}
		m, err := metaOf(obj)
		if err != nil {
			return false, nil, nil
		}
		n := seq.Add(1)
		if m.GetName() == "" && m.GetGenerateName() != "" {
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), n))
		}
		if m.GetUID() == "" {
			m.SetUID(types.UID("uid-" + m.GetName()))
		}
		m.SetResourceVersion(fmt.Sprint(1000 + n))
		return false, nil, nil
	})
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

func (f *fixture) sync(job *batchv1.Job) {
	f.t.Helper()
	if err := f.ctrl.sync(context.Background(), keyOf(job)); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// actions returns the writes the controller sent, e.g. "create pods",
// "delete pods/p1", "patch pods/p1", "update jobs/status", "get jobs/j".
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		switch v := a.(type) {
		case k8stesting.DeleteAction:
			s += " " + v.GetName()
		case k8stesting.PatchAction:
			s += " " + v.GetName()
		case k8stesting.GetAction:
			s += " " + v.GetName()
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) wantActions(want ...string) {
	f.t.Helper()
	if diff := cmp.Diff(normalizeActions(want), normalizeActions(f.actions())); diff != "" {
		f.t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// normalizeActions sorts the pod writes between two Job reads or writes:
// the controller issues those in parallel.
func normalizeActions(in []string) []string {
	out := append([]string(nil), in...)
	isJob := func(s string) bool { return strings.Contains(s, " jobs") }
	for i := 0; i < len(out); {
		j := i + 1
		if !isJob(out[i]) {
			for j < len(out) && !isJob(out[j]) {
				j++
			}
			sort.Strings(out[i:j])
		}
		i = j
	}
	return out
}

func (f *fixture) createdPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

// statusWrites returns the Job statuses written, in order.
func (f *fixture) statusWrites() []batchv1.JobStatus {
	var out []batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			out = append(out, u.GetObject().(*batchv1.Job).Status)
		}
	}
	return out
}

func (f *fixture) lastStatus() batchv1.JobStatus {
	f.t.Helper()
	w := f.statusWrites()
	if len(w) == 0 {
		f.t.Fatalf("no status written; actions %v", f.actions())
	}
	return w[len(w)-1]
}

func (f *fixture) patches(name string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && p.GetName() == name {
			out = append(out, string(p.GetPatch()))
		}
	}
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// conditionsOf renders conditions as "Type=Status Reason: Message".
func conditionsOf(st batchv1.JobStatus) []string {
	var out []string
	for _, c := range st.Conditions {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return out
}

type counters struct {
	Active, Ready, Terminating, Succeeded, Failed int32
	UncountedSucceeded, UncountedFailed           int
}

func countersOf(st batchv1.JobStatus) counters {
	c := counters{Active: st.Active, Ready: ptr.Deref(st.Ready, -1), Terminating: ptr.Deref(st.Terminating, -1),
		Succeeded: st.Succeeded, Failed: st.Failed}
	if u := st.UncountedTerminatedPods; u != nil {
		c.UncountedSucceeded, c.UncountedFailed = len(u.Succeeded), len(u.Failed)
	}
	return c
}

type jobOpt func(*batchv1.Job)

func newJob(name string, parallelism, completions int32, opts ...jobOpt) *batchv1.Job {
	uid := types.UID("job-uid-" + name)
	labels := map[string]string{"batch.kubernetes.io/controller-uid": string(uid), "batch.kubernetes.io/job-name": name}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid, ResourceVersion: "1", Generation: 1},
		Spec: batchv1.JobSpec{
			Parallelism:  ptr.To(parallelism),
			Completions:  ptr.To(completions),
			BackoffLimit: ptr.To[int32](6),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(uid)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"true"}}},
				},
			},
		},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

type podOpt func(*corev1.Pod)

func newPod(job *batchv1.Job, name string, phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: job.Namespace, UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            copyMap(job.Spec.Template.Labels),
			Finalizers:        []string{batchv1.JobTrackingFinalizer},
			OwnerReferences:   []metav1.OwnerReference{*newControllerRef(job)},
			CreationTimestamp: metav1.NewTime(testNow.Add(-time.Minute)),
		},
		Spec:   *job.Spec.Template.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: phase},
	}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		code := int32(0)
		if phase == corev1.PodFailed {
			code = 1
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.NewTime(testNow)},
		}}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withIndex(ix int) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = fmt.Sprint(ix)
		p.Labels[batchv1.JobCompletionIndexAnnotation] = fmt.Sprint(ix)
	}
}

func withExitCode(code int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State.Terminated.ExitCode = code }
}

func withReady() podOpt {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = "node"
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	}
}

func withDeletion() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: testNow} }
}

func indexed() jobOpt {
	return func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }
}

func started(ago time.Duration) jobOpt {
	return func(j *batchv1.Job) { j.Status.StartTime = &metav1.Time{Time: testNow.Add(-ago)} }
}

func hasPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

type runtimeObj = runtime.Object

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func normalizeEvents(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
