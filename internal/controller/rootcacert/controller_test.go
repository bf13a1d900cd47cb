package rootcacert

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

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func start(t *testing.T, client *fake.Clientset) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Informers: factory, RootCA: []byte(testCA),
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 1) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
}

// published returns the namespace's kube-root-ca.crt, or nil.
func published(t *testing.T, client *fake.Clientset, ns string) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), ConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("getting configmap: %v", err)
	}
	return cm
}

func isUpstreams(cm *corev1.ConfigMap) bool {
	return cm != nil && cmp.Equal(cm.Data, map[string]string{"ca.crt": testCA}) && len(cm.BinaryData) == 0 &&
		cm.Annotations["kubernetes.io/description"] == description
}

func TestController_Sync_PublishesInActiveNamespacesOnly(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(namespace("team-a", corev1.NamespaceActive), namespace("leaving", corev1.NamespaceTerminating))
	start(t, client)
	pollUntil(t, "kube-root-ca.crt in team-a", func() bool { return isUpstreams(published(t, client, "team-a")) })

	if _, err := client.CoreV1().Namespaces().Create(context.Background(), namespace("team-b", corev1.NamespaceActive), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "kube-root-ca.crt in the new namespace", func() bool { return isUpstreams(published(t, client, "team-b")) })
	if cm := published(t, client, "leaving"); cm != nil {
		t.Errorf("published in a terminating namespace: %+v", cm)
	}
}

func TestController_Sync_RestoresChangedOrDeletedBundle(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(namespace("team-a", corev1.NamespaceActive))
	start(t, client)
	ctx := context.Background()
	pollUntil(t, "first publication", func() bool { return isUpstreams(published(t, client, "team-a")) })

	cm := published(t, client, "team-a")
	cm.Data = map[string]string{"ca.crt": "tampered", "extra": "x"}
	delete(cm.Annotations, "kubernetes.io/description")
	cm.Labels = map[string]string{"kept": "yes"}
	if _, err := client.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the bundle put back", func() bool {
		cm := published(t, client, "team-a")
		return isUpstreams(cm) && cm.Labels["kept"] == "yes"
	})

	if err := client.CoreV1().ConfigMaps("team-a").Delete(ctx, ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the bundle recreated", func() bool { return isUpstreams(published(t, client, "team-a")) })
}

func TestNewController_RequiresClientInformersAndCA(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	for name, cfg := range map[string]Config{
		"no client":    {Informers: factory, RootCA: []byte(testCA)},
		"no informers": {Client: client, RootCA: []byte(testCA)},
		"no CA":        {Client: client, Informers: factory},
	} {
		if _, err := NewController(cfg); err == nil {
			t.Errorf("%s: NewController succeeded", name)
		}
	}
}
