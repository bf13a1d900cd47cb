package deletion

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Checklist 87, 88 and 89: the garbage collector deletes dependents whose
// only owner is missing (by name, or by uid), and strips a dangling
// reference from a dependent that also has a live owner.
func TestGarbageCollector_DanglingOwners(t *testing.T) {
	e := setup(t, "dangling")
	realJob := pendingJob("real")
	realJob.Spec.Suspend = ptr(true)
	live := e.createJob(realJob)

	ghost := pendingPod("ghost-dependent")
	ghost.OwnerReferences = []metav1.OwnerReference{ownerRef("ghost", randomUID(), true, true)}
	e.createPod(ghost)
	wrongUID := pendingPod("wrong-uid-dependent")
	wrongUID.OwnerReferences = []metav1.OwnerReference{ownerRef("real", randomUID(), true, true)}
	e.createPod(wrongUID)
	solid := ownerRef("real", live.UID, false, false)
	mixed := pendingPod("mixed-dependent")
	mixed.OwnerReferences = []metav1.OwnerReference{solid, ownerRef("ghost2", randomUID(), true, true)}
	e.createPod(mixed)

	t.Run("owner missing by name: dependent deleted", func(t *testing.T) {
		e.waitGone("pods", "ghost-dependent")
	})
	t.Run("owner present with another uid: dependent deleted, owner kept", func(t *testing.T) {
		e.waitGone("pods", "wrong-uid-dependent")
		if j, err := e.getJob("real"); err != nil || j.DeletionTimestamp != nil {
			t.Errorf("job real must be untouched: err %v", err)
		}
	})
	t.Run("one solid and one dangling owner: dangling reference removed, dependent kept", func(t *testing.T) {
		e.poll("dangling reference removed from mixed-dependent", func() (bool, error) {
			p, err := e.getPod("mixed-dependent")
			if err != nil {
				return false, err
			}
			return len(p.OwnerReferences) == 1, nil
		})
		p, err := e.getPod("mixed-dependent")
		if err != nil {
			t.Fatalf("mixed-dependent must survive: %v", err)
		}
		if diff := cmp.Diff([]metav1.OwnerReference{solid}, p.OwnerReferences); diff != "" {
			t.Errorf("ownerReferences (-want +got):\n%s", diff)
		}
		if p.DeletionTimestamp != nil {
			t.Errorf("mixed-dependent marked for deletion at %v", p.DeletionTimestamp)
		}
	})
}
