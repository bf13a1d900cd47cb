package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/bench"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// loopbackClient starts an API-only server and returns an in-process client.
func loopbackClient(b *testing.B) kubernetes.Interface {
	ts := testserver.Start(b, testserver.Options{APIOnly: true})
	c, err := kubernetes.NewForConfig(ts.LoopbackConfig())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkStore_UpdatePath measures one update (the store's read-from-cache,
// compare-and-swap, durable etcd write, response) through the whole handler
// chain, without the network.
func BenchmarkStore_UpdatePath(b *testing.B) {
	c := loopbackClient(b)
	ctx := context.Background()
	cms := c.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "u"}, Data: map[string]string{"n": "0"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		cm.Data["n"] = fmt.Sprint(i)
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWatch_Fanout measures delivering each change to 100 watchers.
func BenchmarkWatch_Fanout(b *testing.B) {
	const watchers = 100
	c := loopbackClient(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := c.CoreV1().ConfigMaps("default")
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	received := make([]int, watchers)
	n := b.N
	for i := range watchers {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type == watch.Added {
					received[i]++
					if received[i] == n {
						return
					}
				}
			}
		}()
	}
	b.ResetTimer()
	for i := range n {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w%d", i)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		b.Fatalf("watchers did not receive all %d events", n)
	}
	b.ReportMetric(float64(n*watchers)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCRUD_Jobs runs skiff-bench's crud scenario (16 workers creating
// and deleting suspended Jobs over HTTPS) against an in-process server, with
// and without the controllers, and reports operations per second.
func BenchmarkCRUD_Jobs(b *testing.B) {
	for _, apiOnly := range []bool{true, false} {
		b.Run(fmt.Sprintf("apiOnly=%v", apiOnly), func(b *testing.B) {
			ts := testserver.Start(b, testserver.Options{APIOnly: apiOnly})
			var ops float64
			for b.Loop() {
				res, err := bench.RunCRUD(context.Background(), bench.CRUDConfig{
					Common: bench.Common{RestConfig: ts.Config}, Workers: 16, N: 2000,
				})
				if err != nil {
					b.Fatal(err)
				}
				ops = res.OpsPerSecond
			}
			b.ReportMetric(ops, "ops/s")
		})
	}
}
