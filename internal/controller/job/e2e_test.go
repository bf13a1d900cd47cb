package job

import (
	"context"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// runController runs a controller with real informers over a fake clientset
// and a fake kubelet that finishes every pod with the given phase. It
// returns when the test ends.
func runController(t *testing.T, client *fake.Clientset, finish corev1.PodPhase) {
	t.Helper()
	installNameReactor(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := NewController(Config{
		Client:      client,
		PodInformer: factory.Core().V1().Pods(),
		JobInformer: factory.Batch().V1().Jobs(),
		Recorder:    record.NewFakeRecorder(10000),
	})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Go(func() {
		if err := ctrl.Run(ctx, 4); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wg.Go(func() { fakeKubelet(ctx, client, finish) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
}

// fakeKubelet moves every new pod straight to a terminal phase.
func fakeKubelet(ctx context.Context, client kubernetes.Interface, phase corev1.PodPhase) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase != "" {
				continue
			}
			code := int32(0)
			if phase == corev1.PodFailed {
				code = 1
			}
			p.Status.Phase = phase
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.Now()},
			}}}
			_, _ = client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}
}

func waitForCondition(t *testing.T, client kubernetes.Interface, name string, cond batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	pollUntil(t, 30*time.Second, func() bool {
		j, err := client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		job = j
		return trueCondition(j, cond) != nil
	})
	return job
}

func TestController_Run_JobCompletesEndToEnd(t *testing.T) {
	t.Parallel()
	client := fake.NewSimpleClientset(newJob("e2e", 5, 20))
	runController(t, client, corev1.PodSucceeded)

	job := waitForCondition(t, client, "e2e", batchv1.JobComplete)
	if job.Status.Succeeded != 20 || job.Status.Active != 0 || job.Status.Failed != 0 {
		t.Errorf("status succeeded=%d active=%d failed=%d, want 20/0/0", job.Status.Succeeded, job.Status.Active, job.Status.Failed)
	}
	if trueCondition(job, batchv1.JobSuccessCriteriaMet) == nil || job.Status.CompletionTime == nil {
		t.Errorf("conditions %v, completionTime %v", conditionsOf(job.Status), job.Status.CompletionTime)
	}
	pollUntil(t, 10*time.Second, func() bool {
		pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			if hasTrackingFinalizer(&p) {
				return false
			}
		}
		return len(pods.Items) >= 20
	})
}

func TestController_Run_JobFailsEndToEnd(t *testing.T) {
	t.Parallel()
	client := fake.NewSimpleClientset(newJob("fails", 1, 1, func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }))
	runController(t, client, corev1.PodFailed)

	job := waitForCondition(t, client, "fails", batchv1.JobFailed)
	want := "Failed=True BackoffLimitExceeded: Job has reached the specified backoff limit"
	if got := conditionsOf(job.Status); len(got) != 2 || got[1] != want {
		t.Errorf("conditions = %v, want FailureTarget then %q", got, want)
	}
	if job.Status.Failed != 1 {
		t.Errorf("failed = %d, want 1", job.Status.Failed)
	}
}
