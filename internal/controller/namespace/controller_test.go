package namespace

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var configMapsResource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

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

func terminatingNamespace() *corev1.Namespace {
	ts := metav1.Now()
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "ns", UID: "ns-uid", DeletionTimestamp: &ts},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func content(apiVersion, kind, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Finalizers: finalizers},
	}
}

// newFakes builds a typed client that finalizes namespaces like the API
// server (the namespace goes once spec.finalizers is empty) and a metadata
// client whose deletecollection deletes, or marks deleting what has
// finalizers.
func newFakes(t *testing.T, ns *corev1.Namespace, objs ...*metav1.PartialObjectMetadata) (*fake.Clientset, *metadatafake.FakeMetadataClient) {
	t.Helper()
	client := fake.NewClientset(ns)
	client.PrependReactor("create", "namespaces", func(a clienttesting.Action) (bool, runtime.Object, error) {
		ca := a.(clienttesting.CreateActionImpl)
		if ca.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		in := ca.GetObject().(*corev1.Namespace)
		if len(in.Spec.Finalizers) == 0 {
			return true, in, client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("namespaces"), "", in.Name)
		}
		return true, in, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("namespaces"), in, "")
	})
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatalf("scheme: %v", err)
	}
	md := metadatafake.NewSimpleMetadataClient(scheme)
	tracker := md.Tracker()
	for _, obj := range objs {
		gvr := podsResource
		if obj.Kind == "ConfigMap" {
			gvr = configMapsResource
		}
		if err := tracker.Create(gvr, obj, "ns"); err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}
	md.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		gvr, namespace := a.GetResource(), a.GetNamespace()
		list, err := tracker.List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, namespace)
		if err != nil {
			return true, nil, err
		}
		for _, item := range list.(*metav1.List).Items {
			obj := item.Object.(*metav1.PartialObjectMetadata).DeepCopy()
			if len(obj.Finalizers) == 0 {
				err = tracker.Delete(gvr, namespace, obj.Name)
			} else if obj.DeletionTimestamp == nil {
				ts := metav1.Now()
				obj.DeletionTimestamp = &ts
				err = tracker.Update(gvr, obj, namespace)
			}
			if err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	return client, md
}

func exists(t *testing.T, md *metadatafake.FakeMetadataClient, gvr schema.GroupVersionResource, name string) bool {
	t.Helper()
	_, err := md.Tracker().Get(gvr, "ns", name)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("get: %v", err)
	}
	return err == nil
}

func TestController_Run_DeletesPodsFirstThenContentThenFinalizes(t *testing.T) {
	t.Parallel()
	client, md := newFakes(t, terminatingNamespace(),
		content("v1", "Pod", "held", "example.com/hold"),
		content("v1", "Pod", "free"),
		content("v1", "ConfigMap", "cm"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(Config{Client: client, Metadata: md, Informers: factory,
		Resources:       []schema.GroupVersionResource{configMapsResource, podsResource},
		RecheckInterval: 10 * time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
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

	getNS := func() *corev1.Namespace {
		ns, err := client.CoreV1().Namespaces().Get(context.Background(), "ns", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatalf("get namespace: %v", err)
		}
		return ns
	}
	condition := func(ns *corev1.Namespace, typ corev1.NamespaceConditionType) string {
		for _, c := range ns.Status.Conditions {
			if c.Type == typ {
				return string(c.Status) + " " + c.Reason + " " + c.Message
			}
		}
		return ""
	}
	pollUntil(t, 10*time.Second, "remaining-content conditions", func() bool {
		ns := getNS()
		return ns != nil && condition(ns, corev1.NamespaceFinalizersRemaining) != ""
	})
	ns := getNS()
	got := []string{condition(ns, corev1.NamespaceContentRemaining), condition(ns, corev1.NamespaceFinalizersRemaining),
		condition(ns, corev1.NamespaceDeletionContentFailure)}
	want := []string{
		"True SomeResourcesRemain Some resources are remaining: pods. has 1 resource instances",
		"True SomeFinalizersRemain Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
		"False ContentDeleted All content successfully deleted, may be waiting on finalization",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if exists(t, md, podsResource, "free") || !exists(t, md, configMapsResource, "cm") {
		t.Fatalf("want the free pod deleted and the configmap kept while a pod remains")
	}

	if err := md.Tracker().Delete(podsResource, "ns", "held"); err != nil {
		t.Fatalf("releasing pod: %v", err)
	}
	pollUntil(t, 10*time.Second, "namespace finalized and removed", func() bool { return getNS() == nil })
	if exists(t, md, configMapsResource, "cm") {
		t.Error("configmap survived its namespace")
	}
}

func TestController_DeleteCollection_FallsBackToListAndDelete(t *testing.T) {
	t.Parallel()
	client, md := newFakes(t, terminatingNamespace(), content("v1", "ConfigMap", "cm"))
	md.PrependReactor("delete-collection", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewMethodNotSupported(configMapsResource.GroupResource(), "deletecollection")
	})
	c, err := NewController(Config{Client: client, Metadata: md, Informers: informers.NewSharedInformerFactory(client, 0)})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	for range 2 {
		if err := c.deleteCollection(context.Background(), configMapsResource, "ns"); err != nil {
			t.Fatalf("deleteCollection: %v", err)
		}
	}
	if exists(t, md, configMapsResource, "cm") {
		t.Fatal("configmap not deleted")
	}
	var verbs []string
	for _, a := range md.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	// The second pass remembers that deletecollection is unsupported.
	if diff := cmp.Diff([]string{"delete-collection", "list", "delete", "list"}, verbs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestController_Sync_IgnoresLiveAndFinalizedNamespaces(t *testing.T) {
	t.Parallel()
	live := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	finalized := terminatingNamespace()
	finalized.Spec.Finalizers = nil
	for name, ns := range map[string]*corev1.Namespace{"live": live, "finalized": finalized} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, md := newFakes(t, ns, content("v1", "Pod", "p"))
			c, err := NewController(Config{Client: client, Metadata: md, Informers: informers.NewSharedInformerFactory(client, 0)})
			if err != nil {
				t.Fatalf("NewController: %v", err)
			}
			remaining, err := c.sync(context.Background(), "ns")
			if err != nil || remaining {
				t.Fatalf("sync = %v, %v; want false, nil", remaining, err)
			}
			if len(md.Actions()) != 0 {
				t.Errorf("content requests = %v, want none", md.Actions())
			}
		})
	}
}
