package garbagecollector

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata/metadatainformer"
	clienttesting "k8s.io/client-go/testing"
)

// pollUntil calls cond until it returns true or timeout passes.
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

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startGC runs a collector over pods, jobs and configmaps until the test ends.
func startGC(t *testing.T, api *fakeAPI) *Controller {
	t.Helper()
	factory := metadatainformer.NewSharedInformerFactory(api.client, 0)
	gc, err := NewController(Config{
		Metadata:  api.client,
		Informers: factory,
		Resources: []schema.GroupVersionResource{podsGVR, jobsGVR, configMapsGVR},
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx, 4) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return gc
}

func object(apiVersion, kind, ns, name string, uid types.UID, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid, OwnerReferences: owners},
	}
}

func job(name string, uid types.UID, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return object("batch/v1", "Job", "ns", name, uid, owners...)
}

func pod(name string, uid types.UID, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return object("v1", "Pod", "ns", name, uid, owners...)
}

func configMap(name string, uid types.UID, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return object("v1", "ConfigMap", "ns", name, uid, owners...)
}

func ownerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func jobRef(name string, uid types.UID, block bool) metav1.OwnerReference {
	ref := ownerRef("batch/v1", "Job", name, uid, block)
	ctrl := true
	ref.Controller = &ctrl
	return ref
}

func deleteWith(t *testing.T, api *fakeAPI, gvr schema.GroupVersionResource, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	err := api.client.Resource(gvr).Namespace("ns").Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		t.Fatalf("deleting %s %s: %v", gvr.Resource, name, err)
	}
}

const timeout = 10 * time.Second

func TestController_Run_BackgroundDeletesDependents(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("pi", "job-uid"))
	const pods = 50
	for i := range pods {
		api.create(t, podsGVR, pod(podName(i), types.UID("pod-uid-"+podName(i)), jobRef("pi", "job-uid", true)))
	}
	startGC(t, api)

	deleteWith(t, api, jobsGVR, "pi", metav1.DeletePropagationBackground)
	pollUntil(t, timeout, "all pods deleted", func() bool {
		for i := range pods {
			if api.get(t, podsGVR, "ns", podName(i)) != nil {
				return false
			}
		}
		return true
	})
	for _, a := range api.actions("delete", "pods") {
		opts := a.(clienttesting.DeleteActionImpl).DeleteOptions
		if opts.Preconditions == nil || opts.Preconditions.UID == nil || opts.PropagationPolicy == nil {
			t.Fatalf("pod delete without uid precondition or policy: %+v", opts)
		}
		if got, want := *opts.PropagationPolicy, metav1.DeletePropagationBackground; got != want {
			t.Errorf("pod delete propagationPolicy = %s, want %s", got, want)
		}
	}
}

func podName(i int) string {
	return "pi-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
}

func TestController_Run_ForegroundWaitsForBlockingDependents(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("fgb", "job-uid"))
	held := pod("held", "pod-held", jobRef("fgb", "job-uid", true))
	held.Finalizers = []string{"example.com/hold"}
	api.create(t, podsGVR, held)
	api.create(t, podsGVR, pod("free", "pod-free", jobRef("fgb", "job-uid", true)))
	startGC(t, api)

	deleteWith(t, api, jobsGVR, "fgb", metav1.DeletePropagationForeground)
	pollUntil(t, timeout, "free pod deleted and held pod terminating", func() bool {
		p := api.get(t, podsGVR, "ns", "held")
		return api.get(t, podsGVR, "ns", "free") == nil && p != nil && p.DeletionTimestamp != nil
	})
	if j := api.get(t, jobsGVR, "ns", "fgb"); !hasFinalizerIn(j, metav1.FinalizerDeleteDependents) {
		t.Fatalf("job = %+v, want it kept with %s while a blocking dependent remains", j, metav1.FinalizerDeleteDependents)
	}

	releaseFinalizers(t, api, podsGVR, "held")
	pollUntil(t, timeout, "job deleted after its blocking dependent", func() bool {
		return api.get(t, jobsGVR, "ns", "fgb") == nil
	})
	bodies := api.patchBodies("jobs", "fgb")
	if len(bodies) == 0 {
		t.Fatal("no finalizer patch sent to the job")
	}
	if diff := cmp.Diff(`application/merge-patch+json {"metadata":{"resourceVersion":"`, bodies[len(bodies)-1][:len(`application/merge-patch+json {"metadata":{"resourceVersion":"`)]); diff != "" {
		t.Errorf("finalizer patch prefix (-want +got):\n%s", diff)
	}
}

func TestController_Run_ForegroundDoesNotWaitForNonBlockingDependents(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("fga", "job-uid"))
	held := pod("held", "pod-held", jobRef("fga", "job-uid", false))
	held.Finalizers = []string{"example.com/hold"}
	api.create(t, podsGVR, held)
	startGC(t, api)

	deleteWith(t, api, jobsGVR, "fga", metav1.DeletePropagationForeground)
	pollUntil(t, timeout, "job deleted while its non-blocking dependent terminates", func() bool {
		p := api.get(t, podsGVR, "ns", "held")
		return api.get(t, jobsGVR, "ns", "fga") == nil && p != nil && p.DeletionTimestamp != nil
	})
}

func releaseFinalizers(t *testing.T, api *fakeAPI, gvr schema.GroupVersionResource, name string) {
	t.Helper()
	_, err := api.client.Resource(gvr).Namespace("ns").Patch(context.Background(), name,
		types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("releasing finalizers of %s: %v", name, err)
	}
}

func TestController_Run_OrphanRemovesOwnerReferences(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("pi", "job-uid"))
	other := ownerRef("v1", "ConfigMap", "keep", "cm-uid", false)
	api.create(t, configMapsGVR, configMap("keep", "cm-uid"))
	api.create(t, podsGVR, pod("p1", "pod-1", jobRef("pi", "job-uid", true)))
	api.create(t, podsGVR, pod("p2", "pod-2", jobRef("pi", "job-uid", true), other))
	startGC(t, api)

	deleteWith(t, api, jobsGVR, "pi", metav1.DeletePropagationOrphan)
	pollUntil(t, timeout, "job deleted", func() bool { return api.get(t, jobsGVR, "ns", "pi") == nil })

	got := map[string][]metav1.OwnerReference{}
	for _, name := range []string{"p1", "p2"} {
		p := api.get(t, podsGVR, "ns", name)
		if p == nil {
			t.Fatalf("pod %s deleted, want it orphaned", name)
		}
		got[name] = p.OwnerReferences
	}
	want := map[string][]metav1.OwnerReference{"p1": nil, "p2": {other}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ownerReferences after orphaning (-want +got):\n%s", diff)
	}
	wantBody := []string{`application/strategic-merge-patch+json {"metadata":{"ownerReferences":[{"$patch":"delete","uid":"job-uid"}],"uid":"pod-1"}}`}
	if diff := cmp.Diff(wantBody, api.patchBodies("pods", "p1")); diff != "" {
		t.Errorf("orphan patch (-want +got):\n%s", diff)
	}
}

func TestController_Run_DanglingOwners(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		owners    func() []metav1.OwnerReference
		rejectSMP bool
		wantGone  bool
		wantRefs  []metav1.OwnerReference
	}{
		"an owner that does not exist is dangling": {
			owners:   func() []metav1.OwnerReference { return []metav1.OwnerReference{jobRef("ghost", "ghost-uid", true)} },
			wantGone: true,
		},
		"an owner with another uid is dangling": {
			owners:   func() []metav1.OwnerReference { return []metav1.OwnerReference{jobRef("real", "wrong-uid", true)} },
			wantGone: true,
		},
		"one solid and one dangling owner keeps the solid reference": {
			owners: func() []metav1.OwnerReference {
				return []metav1.OwnerReference{jobRef("real", "real-uid", true), ownerRef("batch/v1", "Job", "ghost", "ghost-uid", true)}
			},
			wantRefs: []metav1.OwnerReference{jobRef("real", "real-uid", true)},
		},
		"the JSON merge patch fallback on 415 keeps the solid reference": {
			owners: func() []metav1.OwnerReference {
				return []metav1.OwnerReference{ownerRef("batch/v1", "Job", "ghost", "ghost-uid", true), jobRef("real", "real-uid", true)}
			},
			rejectSMP: true,
			wantRefs:  []metav1.OwnerReference{jobRef("real", "real-uid", true)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.rejectSMP.Store(tc.rejectSMP)
			api.create(t, jobsGVR, job("real", "real-uid"))
			api.create(t, podsGVR, pod("dep", "dep-uid", tc.owners()...))
			startGC(t, api)

			if tc.wantGone {
				pollUntil(t, timeout, "dependent deleted", func() bool { return api.get(t, podsGVR, "ns", "dep") == nil })
				return
			}
			pollUntil(t, timeout, "dangling reference removed", func() bool {
				p := api.get(t, podsGVR, "ns", "dep")
				return p != nil && len(p.OwnerReferences) == len(tc.wantRefs)
			})
			if diff := cmp.Diff(tc.wantRefs, api.get(t, podsGVR, "ns", "dep").OwnerReferences); diff != "" {
				t.Errorf("ownerReferences (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_Run_CycleDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationForeground, metav1.DeletePropagationBackground} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.create(t, configMapsGVR, configMap("a", "uid-a", ownerRef("v1", "ConfigMap", "b", "uid-b", true)))
			api.create(t, configMapsGVR, configMap("b", "uid-b", ownerRef("v1", "ConfigMap", "a", "uid-a", true)))
			startGC(t, api)

			deleteWith(t, api, configMapsGVR, "a", policy)
			pollUntil(t, timeout, "both configmaps deleted", func() bool {
				return api.get(t, configMapsGVR, "ns", "a") == nil && api.get(t, configMapsGVR, "ns", "b") == nil
			})
		})
	}
}

func TestController_Run_SolidOwnerKeepsDependent(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("pi", "job-uid"))
	api.create(t, podsGVR, pod("p", "pod-uid", jobRef("pi", "job-uid", true)))
	// An object created after the pod, whose owner is known only later, must
	// wait as a virtual node rather than be deleted.
	api.create(t, configMapsGVR, configMap("late", "cm-uid", jobRef("pi", "job-uid", true)))
	gc := startGC(t, api)
	pollUntil(t, timeout, "graph built", func() bool { return gc.GraphSize() == 3 })

	// Delete through a sentinel that the collector must process after the
	// others: a dangling pod; once it is gone, earlier work is done too.
	api.create(t, podsGVR, pod("sentinel", "s-uid", jobRef("ghost", "ghost-uid", true)))
	pollUntil(t, timeout, "sentinel deleted", func() bool { return api.get(t, podsGVR, "ns", "sentinel") == nil })
	if api.get(t, podsGVR, "ns", "p") == nil || api.get(t, configMapsGVR, "ns", "late") == nil {
		t.Fatal("dependents of a live owner were deleted")
	}
	if got := api.actions("delete", "pods"); len(got) != 1 {
		t.Errorf("pod deletes = %d, want 1 (the sentinel)", len(got))
	}
}

func TestController_Run_ForegroundCascadesThroughChains(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.create(t, jobsGVR, job("top", "job-uid"))
	api.create(t, configMapsGVR, configMap("mid", "mid-uid", jobRef("top", "job-uid", true)))
	api.create(t, configMapsGVR, configMap("leaf", "leaf-uid", ownerRef("v1", "ConfigMap", "mid", "mid-uid", true)))
	startGC(t, api)

	deleteWith(t, api, jobsGVR, "top", metav1.DeletePropagationForeground)
	pollUntil(t, timeout, "whole chain deleted", func() bool {
		return api.get(t, jobsGVR, "ns", "top") == nil && api.get(t, configMapsGVR, "ns", "mid") == nil &&
			api.get(t, configMapsGVR, "ns", "leaf") == nil
	})
	policies := map[string]metav1.DeletionPropagation{}
	for _, a := range api.actions("delete", "configmaps") {
		da := a.(clienttesting.DeleteActionImpl)
		policies[da.GetName()] = *da.DeleteOptions.PropagationPolicy
	}
	want := map[string]metav1.DeletionPropagation{"mid": metav1.DeletePropagationForeground, "leaf": metav1.DeletePropagationBackground}
	if diff := cmp.Diff(want, policies); diff != "" {
		t.Errorf("dependent delete policies (-want +got):\n%s", diff)
	}
}

func TestController_DeleteObject_RetriesWithoutResourceVersionWhenOwnersUnchanged(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		owners     []metav1.OwnerReference
		synced     bool // the informer holds the newer version: no GET
		wantErr    bool
		wantExists bool
		wantGets   int
	}{
		"same owners: retried with the uid precondition only": {
			owners:   []metav1.OwnerReference{jobRef("ghost", "ghost-uid", true)},
			wantGets: 1,
		},
		"same owners, newer copy in the informer: retried without a GET": {
			owners: []metav1.OwnerReference{jobRef("ghost", "ghost-uid", true)},
			synced: true,
		},
		"changed owners: the conflict is returned": {
			owners:     []metav1.OwnerReference{jobRef("other", "other-uid", true)},
			wantErr:    true,
			wantExists: true,
			wantGets:   1,
		},
		"changed owners, newer copy in the informer: the conflict is returned": {
			owners:     []metav1.OwnerReference{jobRef("other", "other-uid", true)},
			synced:     true,
			wantErr:    true,
			wantExists: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.create(t, podsGVR, pod("p", "pod-uid", jobRef("ghost", "ghost-uid", true)))
			informers := metadatainformer.NewSharedInformerFactory(api.client, 0)
			gc, err := NewController(Config{Metadata: api.client, Informers: informers, Resources: []schema.GroupVersionResource{podsGVR}})
			if err != nil {
				t.Fatalf("NewController: %v", err)
			}
			if tc.synced {
				ctx, cancel := context.WithCancel(context.Background())
				informers.Start(ctx.Done())
				defer func() { cancel(); informers.Shutdown() }()
				for gvr, ok := range informers.WaitForCacheSync(ctx.Done()) {
					if !ok {
						t.Fatalf("informer for %v did not sync", gvr)
					}
				}
			}
			id := identity{APIVersion: "v1", Kind: "Pod", Name: "p", Namespace: "ns", UID: "pod-uid"}
			err = gc.deleteObject(context.Background(), id, "1" /* stale */, tc.owners, metav1.DeletePropagationBackground)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("deleteObject error = %v, want error %v", err, tc.wantErr)
			}
			if got := api.get(t, podsGVR, "ns", "p") != nil; got != tc.wantExists {
				t.Errorf("pod exists = %v, want %v", got, tc.wantExists)
			}
			if got := len(api.actions("get", "pods")); got != tc.wantGets {
				t.Errorf("GETs of the pod = %d, want %d", got, tc.wantGets)
			}
		})
	}
}

func TestReferencesDiffs(t *testing.T) {
	t.Parallel()
	a, b, c := jobRef("a", "uid-a", true), jobRef("b", "uid-b", true), jobRef("c", "uid-c", true)
	bUnblocked := jobRef("b", "uid-b", false)
	added, removed, changed := referencesDiffs([]metav1.OwnerReference{a, b}, []metav1.OwnerReference{bUnblocked, c})
	got := struct {
		Added, Removed []metav1.OwnerReference
		Changed        []refChange
	}{added, removed, changed}
	want := struct {
		Added, Removed []metav1.OwnerReference
		Changed        []refChange
	}{[]metav1.OwnerReference{c}, []metav1.OwnerReference{a}, []refChange{{old: b, new: bUnblocked}}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(refChange{})); diff != "" {
		t.Errorf("referencesDiffs (-want +got):\n%s", diff)
	}
}

func TestAbsentCache_Add_EvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newAbsentCache(2)
	x, y, z := identity{UID: "x"}, identity{UID: "y"}, identity{UID: "z"}
	c.add(x)
	c.add(y)
	c.has(x) // x is now the most recently used
	c.add(z)
	got := []bool{c.has(x), c.has(y), c.has(z)}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Errorf("membership of x, y, z (-want +got):\n%s", diff)
	}
}

func TestController_Run_ProceedsPastAResourceThatNeverSyncs(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	leases := schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	api.client.PrependReactor("list", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(leases.GroupResource(), "")
	})
	api.create(t, podsGVR, pod("dep", "dep-uid", jobRef("ghost", "ghost-uid", true)))
	factory := metadatainformer.NewSharedInformerFactory(api.client, 0)
	gc, err := NewController(Config{Metadata: api.client, Informers: factory,
		Resources: []schema.GroupVersionResource{podsGVR, jobsGVR, leases}, SyncTimeout: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx, 1) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	pollUntil(t, timeout, "dangling dependent deleted", func() bool { return api.get(t, podsGVR, "ns", "dep") == nil })
}

func TestNewController_DefaultResourcesMapToExactKinds(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	gc, err := NewController(Config{Metadata: api.client, Informers: metadatainformer.NewSharedInformerFactory(api.client, 0)})
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	got := map[string]string{}
	for gvr, m := range gc.monitors {
		got[gvr.String()] = m.gvk.String()
	}
	want := map[string]string{
		"/v1, Resource=pods":                      "/v1, Kind=Pod",
		"batch/v1, Resource=jobs":                 "batch/v1, Kind=Job",
		"/v1, Resource=configmaps":                "/v1, Kind=ConfigMap",
		"/v1, Resource=secrets":                   "/v1, Kind=Secret",
		"/v1, Resource=serviceaccounts":           "/v1, Kind=ServiceAccount",
		"/v1, Resource=events":                    "/v1, Kind=Event",
		"events.k8s.io/v1, Resource=events":       "events.k8s.io/v1, Kind=Event",
		"coordination.k8s.io/v1, Resource=leases": "coordination.k8s.io/v1, Kind=Lease",
		"/v1, Resource=namespaces":                "/v1, Kind=Namespace",
		"/v1, Resource=nodes":                     "/v1, Kind=Node",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("monitored kinds (-want +got):\n%s", diff)
	}
}
