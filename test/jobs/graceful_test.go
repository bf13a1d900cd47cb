package jobs

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// gracePod is a busybox pod running script with the grace period.
func gracePod(name, script string, grace int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(grace),
			Containers:                    []corev1.Container{{Name: "c", Image: busyboxImage, Command: []string{"sh", "-c", script}}},
		},
	}
}

// terminatePod starts pod, waits until its log says "ready" (its traps are
// set), deletes it with its own grace period and follows it with a watch
// until it is gone. It returns the container's last reported state and how
// long the Pod object outlived the delete.
func (f *framework) terminatePod(pod *corev1.Pod) (*corev1.ContainerStateTerminated, time.Duration) {
	f.t.Helper()
	pod, err := f.cs.CoreV1().Pods(f.ns).Create(f.ctx, pod, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("creating pod: %v", err)
	}
	pollUntil(f.t, jobTimeout, "pod "+pod.Name+" running and ready", func() (bool, error) {
		p, err := f.cs.CoreV1().Pods(f.ns).Get(f.ctx, pod.Name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false, err
		}
		return strings.Contains(f.podLogs(pod.Name), "ready"), nil
	})
	w, err := f.cs.CoreV1().Pods(f.ns).Watch(f.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: pod.ResourceVersion})
	if err != nil {
		f.t.Fatalf("watching pod: %v", err)
	}
	defer w.Stop()
	start := time.Now()
	if err := f.cs.CoreV1().Pods(f.ns).Delete(f.ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatalf("deleting pod: %v", err)
	}
	var last *corev1.ContainerStateTerminated
	timeout := time.After(jobTimeout)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				f.t.Fatalf("watch of pod %s closed before it was deleted", pod.Name)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Terminated != nil {
					last = cs.State.Terminated
				}
			}
			if ev.Type == watch.Deleted {
				return last, time.Since(start)
			}
		case <-timeout:
			f.t.Fatalf("pod %s not deleted within %s", pod.Name, jobTimeout)
		}
	}
}

// A container that traps SIGTERM gets to run its handler within the grace
// period; the Pod object then disappears without waiting for the rest of it.
func featGraceTrap(t *testing.T, f *framework) {
	pod := gracePod("trap", `trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.2; done`, 30)
	term, took := f.terminatePod(pod)
	if term == nil || term.ExitCode != 7 {
		t.Errorf("final container state %+v, want exit code 7 from the TERM handler", term)
	}
	if took > 10*time.Second {
		t.Errorf("pod took %s to disappear, its handler exits at once", took)
	}
}

// A container that ignores SIGTERM is killed when its grace period ends;
// the Pod object then disappears.
func featGraceIgnored(t *testing.T, f *framework) {
	pod := gracePod("ignore", `trap '' TERM; echo ready; while true; do sleep 0.2; done`, 2)
	term, took := f.terminatePod(pod)
	if term == nil || term.ExitCode != 137 {
		t.Errorf("final container state %+v, want exit code 137 (SIGKILL)", term)
	}
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("pod took %s to disappear, want the 2s grace period and then some", took)
	}
}
