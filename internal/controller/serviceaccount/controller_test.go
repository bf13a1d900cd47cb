package serviceaccount

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

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

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func start(t *testing.T, client *fake.Clientset) *Controller {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Informers: factory,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return c
}

func hasDefault(t *testing.T, client *fake.Clientset, ns string) bool {
	t.Helper()
	_, err := client.CoreV1().ServiceAccounts(ns).Get(context.Background(), DefaultServiceAccountName, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("getting service account: %v", err)
	}
	return err == nil
}

func TestController_Run_CreatesAndRecreatesDefault(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(namespace("a", corev1.NamespaceActive), namespace("b", corev1.NamespaceActive))
	start(t, client)

	pollUntil(t, 10*time.Second, "default service accounts", func() bool {
		return hasDefault(t, client, "a") && hasDefault(t, client, "b")
	})
	if err := client.CoreV1().ServiceAccounts("a").Delete(context.Background(), DefaultServiceAccountName, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting: %v", err)
	}
	pollUntil(t, 10*time.Second, "default service account recreated", func() bool { return hasDefault(t, client, "a") })

	if _, err := client.CoreV1().Namespaces().Create(context.Background(), namespace("c", corev1.NamespaceActive), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	pollUntil(t, 10*time.Second, "default service account in a new namespace", func() bool { return hasDefault(t, client, "c") })
}

func TestController_Sync_Cases(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		objects     []any
		wantCreates int
	}{
		"an active namespace without the account gets one": {
			objects:     []any{namespace("ns", corev1.NamespaceActive)},
			wantCreates: 1,
		},
		"a terminating namespace gets none": {
			objects: []any{namespace("ns", corev1.NamespaceTerminating)},
		},
		"a missing namespace gets none": {},
		"an existing account is left alone": {
			objects: []any{namespace("ns", corev1.NamespaceActive),
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: DefaultServiceAccountName}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(Config{Client: client, Informers: factory})
			if err != nil {
				t.Fatalf("NewController: %v", err)
			}
			for _, obj := range tc.objects {
				switch o := obj.(type) {
				case *corev1.Namespace:
					_ = factory.Core().V1().Namespaces().Informer().GetIndexer().Add(o)
				case *corev1.ServiceAccount:
					_ = factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(o)
				}
			}
			if err := c.sync(context.Background(), "ns"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			creates := 0
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
					creates++
				}
			}
			if diff := cmp.Diff(tc.wantCreates, creates); diff != "" {
				t.Errorf("creates (-want +got):\n%s", diff)
			}
		})
	}
}
