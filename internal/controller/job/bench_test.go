package job

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkController_Sync_Create1000 measures the sync that creates the
// pods of a Job with parallelism 1000 (all of them in one sync; see
// maxPodCreateDeletePerSync).
func BenchmarkController_Sync_Create1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		job := newJob("bench", 1000, 1000)
		f := newFixture(&testing.T{}, job)
		b.StartTimer()
		if err := f.ctrl.sync(context.Background(), keyOf(job)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkController_Sync_Track1000 measures syncs of a Job whose 1000 pods
// all succeeded: counting them and removing their finalizers. Most of the
// time goes to the fake clientset's strategic-merge patching.
func BenchmarkController_Sync_Track1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		job := newJob("bench", 1000, 1000, started(time.Minute))
		objs := []runtime.Object{job}
		for i := range 1000 {
			objs = append(objs, newPod(job, "p"+itoa(i), corev1.PodSucceeded))
		}
		f := newFixture(&testing.T{}, objs...)
		b.StartTimer()
		if err := f.ctrl.sync(context.Background(), keyOf(job)); err != nil {
			b.Fatal(err)
		}
	}
}
