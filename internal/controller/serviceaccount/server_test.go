package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-sh/skiff/internal/controller/serviceaccount"
	"github.com/skiff-sh/skiff/internal/testserver"
)

func TestServer_DefaultServiceAccount(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true, WithoutServiceAccounts: true})
	c := ts.Client
	factory := informers.NewSharedInformerFactory(c, 0)
	ctrl, err := serviceaccount.NewController(serviceaccount.Config{Client: c, Informers: factory})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 1) }()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	bg := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	exists := func() (bool, error) {
		_, err := c.CoreV1().ServiceAccounts("team").Get(bg, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	testserver.PollUntil(t, 20*time.Second, exists)
	if err := c.CoreV1().ServiceAccounts("team").Delete(bg, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting: %v", err)
	}
	testserver.PollUntil(t, 20*time.Second, exists)
}
