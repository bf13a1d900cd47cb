package namespace_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"

	"github.com/skiff-sh/skiff/internal/controller/namespace"
	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestServer_NamespaceDeletion(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	cfg := *ts.Config
	cfg.QPS, cfg.Burst = -1, 0
	md, err := metadata.NewForConfig(&cfg)
	if err != nil {
		t.Fatalf("metadata client: %v", err)
	}
	c := ts.Client
	factory := informers.NewSharedInformerFactory(c, 0)
	ctrl, err := namespace.NewController(namespace.Config{Client: c, Metadata: md, Informers: factory,
		RecheckInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 2) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})

	bg := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods("doomed").Create(bg, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
	if _, err := c.CoreV1().ConfigMaps("doomed").Create(bg, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating configmap: %v", err)
	}
	if err := c.CoreV1().Namespaces().Delete(bg, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting namespace: %v", err)
	}
	testserver.PollUntil(t, 20*time.Second, func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(bg, "doomed", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	for _, get := range []func() error{
		func() error { _, err := c.CoreV1().Pods("doomed").Get(bg, "p", metav1.GetOptions{}); return err },
		func() error { _, err := c.CoreV1().ConfigMaps("doomed").Get(bg, "cm", metav1.GetOptions{}); return err },
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("content survived its namespace: %v", err)
		}
	}
}
