package garbagecollector

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var (
	podsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	jobsGVR       = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// fakeAPI plays the parts of kube-apiserver the collector relies on, on top
// of the fake metadata client: resourceVersions, delete preconditions,
// finalizers (orphan/foregroundDeletion added by the propagation policy, the
// object kept with a deletionTimestamp while finalizers remain, removed once
// a patch empties them), and the uid precondition carried in patch bodies.
type fakeAPI struct {
	client  *metadatafake.FakeMetadataClient
	tracker clienttesting.ObjectTracker
	rv      atomic.Int64
	// rejectSMP makes strategic-merge patches fail with 415.
	rejectSMP atomic.Bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatalf("building scheme: %v", err)
	}
	client := metadatafake.NewSimpleMetadataClient(scheme)
	f := &fakeAPI{client: client, tracker: client.Tracker()}
	f.rv.Store(100)
	// Reactors run under the fake client's lock, so each read-modify-write
	// below is atomic with respect to other requests.
	client.PrependReactor("delete", "*", f.reactDelete)
	client.PrependReactor("patch", "*", f.reactPatch)
	return f
}

func (f *fakeAPI) nextRV() string {
	return strconv.FormatInt(f.rv.Add(1), 10)
}

// create stores obj as if POSTed.
func (f *fakeAPI) create(t *testing.T, gvr schema.GroupVersionResource, obj *metav1.PartialObjectMetadata) {
	t.Helper()
	obj = obj.DeepCopy()
	obj.ResourceVersion = f.nextRV()
	var c metadatafake.MetadataClient
	if obj.Namespace == "" {
		c = f.client.Resource(gvr).(metadatafake.MetadataClient)
	} else {
		c = f.client.Resource(gvr).Namespace(obj.Namespace).(metadatafake.MetadataClient)
	}
	if _, err := c.CreateFake(obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating %s %s: %v", gvr.Resource, obj.Name, err)
	}
}

// get returns the stored object, or nil when it does not exist.
func (f *fakeAPI) get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *metav1.PartialObjectMetadata {
	t.Helper()
	obj, err := f.tracker.Get(gvr, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("getting %s %s: %v", gvr.Resource, name, err)
	}
	return obj.(*metav1.PartialObjectMetadata).DeepCopy()
}

func (f *fakeAPI) reactDelete(action clienttesting.Action) (bool, runtime.Object, error) {
	da := action.(clienttesting.DeleteActionImpl)
	gvr := da.GetResource()
	obj, err := f.tracker.Get(gvr, da.GetNamespace(), da.GetName())
	if err != nil {
		return true, nil, err
	}
	cur := obj.(*metav1.PartialObjectMetadata).DeepCopy()
	opts := da.DeleteOptions
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != cur.UID {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), cur.Name,
				fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, cur.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != cur.ResourceVersion {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), cur.Name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, cur.ResourceVersion))
		}
	}
	if cur.DeletionTimestamp == nil && opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan:
			cur.Finalizers = append(cur.Finalizers, metav1.FinalizerOrphanDependents)
		case metav1.DeletePropagationForeground:
			cur.Finalizers = append(cur.Finalizers, metav1.FinalizerDeleteDependents)
		}
	}
	if len(cur.Finalizers) == 0 {
		return true, nil, f.tracker.Delete(gvr, cur.Namespace, cur.Name)
	}
	if cur.DeletionTimestamp == nil {
		now := metav1.NewTime(time.Now())
		cur.DeletionTimestamp = &now
		zero := int64(0)
		cur.DeletionGracePeriodSeconds = &zero
	}
	cur.ResourceVersion = f.nextRV()
	return true, cur, f.tracker.Update(gvr, cur, cur.Namespace)
}

func (f *fakeAPI) reactPatch(action clienttesting.Action) (bool, runtime.Object, error) {
	pa := action.(clienttesting.PatchActionImpl)
	gvr := pa.GetResource()
	if pa.GetPatchType() == types.StrategicMergePatchType && f.rejectSMP.Load() {
		return true, nil, apierrors.NewGenericServerResponse(415, "patch", gvr.GroupResource(), pa.GetName(),
			"the body of the request was in an unknown format", 0, false)
	}
	obj, err := f.tracker.Get(gvr, pa.GetNamespace(), pa.GetName())
	if err != nil {
		return true, nil, err
	}
	cur := obj.(*metav1.PartialObjectMetadata)
	old, err := json.Marshal(cur)
	if err != nil {
		return true, nil, err
	}
	var merged []byte
	switch pa.GetPatchType() {
	case types.StrategicMergePatchType:
		merged, err = strategicpatch.StrategicMergePatch(old, pa.GetPatch(), &metav1.PartialObjectMetadata{})
	case types.MergePatchType:
		merged, err = jsonpatch.MergePatch(old, pa.GetPatch())
	default:
		return true, nil, apierrors.NewBadRequest("unsupported patch type " + string(pa.GetPatchType()))
	}
	if err != nil {
		return true, nil, apierrors.NewBadRequest(err.Error())
	}
	next := &metav1.PartialObjectMetadata{}
	if err := json.Unmarshal(merged, next); err != nil {
		return true, nil, apierrors.NewBadRequest(err.Error())
	}
	if next.UID != cur.UID || next.ResourceVersion != cur.ResourceVersion {
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), cur.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if cur.DeletionTimestamp != nil && len(next.Finalizers) == 0 {
		return true, next, f.tracker.Delete(gvr, cur.Namespace, cur.Name)
	}
	next.ResourceVersion = f.nextRV()
	return true, next, f.tracker.Update(gvr, next, next.Namespace)
}

// actions returns the recorded requests of verb on resource.
func (f *fakeAPI) actions(verb, resource string) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

// patchBodies returns the bodies of the patches sent to resource/name.
func (f *fakeAPI) patchBodies(resource, name string) []string {
	var out []string
	for _, a := range f.actions("patch", resource) {
		pa := a.(clienttesting.PatchActionImpl)
		if pa.GetName() == name {
			out = append(out, string(pa.GetPatchType())+" "+string(pa.GetPatch()))
		}
	}
	return out
}

func hasFinalizerIn(obj *metav1.PartialObjectMetadata, finalizer string) bool {
	return obj != nil && slices.Contains(obj.Finalizers, finalizer)
}
