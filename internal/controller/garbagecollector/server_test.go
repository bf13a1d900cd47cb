package garbagecollector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"

	"github.com/skiff-sh/skiff/internal/controller/garbagecollector"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// startOnServer runs the collector against a real Skiff server.
func startOnServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	cfg := *ts.Config
	cfg.QPS, cfg.Burst = -1, 0
	md, err := metadata.NewForConfig(&cfg)
	if err != nil {
		t.Fatalf("metadata client: %v", err)
	}
	factory := metadatainformer.NewSharedInformerFactory(md, 0)
	gc, err := garbagecollector.NewController(garbagecollector.Config{Metadata: md, Informers: factory,
		Resources: servedResources(t, ts.Client.Discovery())})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx, 20) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	select {
	case <-gc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("garbage collector not ready")
	}
	client, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return client
}

// servedResources keeps the default resources the server serves.
func servedResources(t *testing.T, d discovery.DiscoveryInterface) []schema.GroupVersionResource {
	t.Helper()
	var out []schema.GroupVersionResource
	for _, gvr := range garbagecollector.DefaultResources() {
		list, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
		if apierrors.IsNotFound(err) {
			t.Logf("server does not serve %s", gvr)
			continue
		}
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		for _, r := range list.APIResources {
			if r.Name == gvr.Resource {
				out = append(out, gvr)
			}
		}
	}
	return out
}

func createJob(t *testing.T, c kubernetes.Interface, name string) *batchv1.Job {
	t.Helper()
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	out, err := c.BatchV1().Jobs("default").Create(context.Background(), j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating job: %v", err)
	}
	return out
}

func createPod(t *testing.T, c kubernetes.Interface, name string, owner *batchv1.Job, block bool, finalizers ...string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: &block}}
	}
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
}

func gone(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("get: %v", err)
	}
	return apierrors.IsNotFound(err)
}

func TestServer_Cascade(t *testing.T) {
	c := startOnServer(t)
	ctx := context.Background()
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan} {
		t.Run(string(policy), func(t *testing.T) {
			j := createJob(t, c, "j-"+strings.ToLower(string(policy)))
			for i := range 3 {
				createPod(t, c, fmt.Sprintf("%s-%d", j.Name, i), j, true)
			}
			if err := c.BatchV1().Jobs("default").Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
				_, err := c.BatchV1().Jobs("default").Get(ctx, j.Name, metav1.GetOptions{})
				if !gone(t, err) {
					return false, nil
				}
				for i := range 3 {
					p, err := c.CoreV1().Pods("default").Get(ctx, fmt.Sprintf("%s-%d", j.Name, i), metav1.GetOptions{})
					if policy == metav1.DeletePropagationOrphan {
						if gone(t, err) {
							return false, fmt.Errorf("orphaned pod deleted")
						}
						if len(p.OwnerReferences) != 0 {
							return false, nil
						}
					} else if !gone(t, err) {
						return false, nil
					}
				}
				return true, nil
			})
		})
	}
}

func TestServer_BackgroundCascade1000(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1000 pods")
	}
	c := startOnServer(t)
	ctx := context.Background()
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationForeground} {
		j := createJob(t, c, "big-"+strings.ToLower(string(policy)))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range 1000 {
			sem <- struct{}{}
			wg.Go(func() { defer func() { <-sem }(); createPod(t, c, fmt.Sprintf("%s-%d", j.Name, i), j, true) })
		}
		wg.Wait()
		start := time.Now()
		if err := c.BatchV1().Jobs("default").Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		testserver.PollUntil(t, 60*time.Second, func() (bool, error) {
			pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil {
				return false, err
			}
			_, err = c.BatchV1().Jobs("default").Get(ctx, j.Name, metav1.GetOptions{})
			return len(pods.Items) == 0 && gone(t, err), nil
		})
		t.Logf("%s cascade of 1000 pods: %s", policy, time.Since(start))
	}
	// Baseline: the same deletes sent directly, 20 at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range 1000 {
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); createPod(t, c, fmt.Sprintf("direct-%d", i), nil, true) })
	}
	wg.Wait()
	start := time.Now()
	for i := range 1000 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("direct-%d", i), metav1.DeleteOptions{})
		})
	}
	wg.Wait()
	t.Logf("baseline: 1000 direct pod deletes, 32 in flight: %s", time.Since(start))
}
