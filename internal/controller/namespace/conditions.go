package namespace

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditionTypes are the namespace conditions upstream's deleter maintains,
// with the reason and message each has when nothing is wrong.
var conditionTypes = []struct {
	typ     corev1.NamespaceConditionType
	reason  string
	message string
}{
	{corev1.NamespaceDeletionDiscoveryFailure, "ResourcesDiscovered", "All resources successfully discovered"},
	{corev1.NamespaceDeletionGVParsingFailure, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
	{corev1.NamespaceDeletionContentFailure, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	{corev1.NamespaceContentRemaining, "ContentRemoved", "All content successfully removed"},
	{corev1.NamespaceFinalizersRemaining, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// failureConditions turns one pass's totals into the conditions that are
// true, with upstream's reasons and messages.
func failureConditions(t *contentTotals, now metav1.Time) []corev1.NamespaceCondition {
	var out []corev1.NamespaceCondition
	if len(t.errs) > 0 {
		msgs := make([]string, 0, len(t.errs))
		for _, err := range t.errs {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, LastTransitionTime: now,
			Reason:  "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(t.errs), strings.Join(msgs, ", ")),
		})
	}
	var resources []string
	for gvr, n := range t.gvrRemaining {
		if n > 0 {
			resources = append(resources, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
	}
	if len(resources) > 0 {
		sort.Strings(resources)
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, LastTransitionTime: now,
			Reason: "SomeResourcesRemain", Message: "Some resources are remaining: " + strings.Join(resources, ", "),
		})
	}
	var finalizers []string
	for f, n := range t.finalizersRemaining {
		if n > 0 {
			finalizers = append(finalizers, fmt.Sprintf("%s in %d resource instances", f, n))
		}
	}
	if len(finalizers) > 0 {
		sort.Strings(finalizers)
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, LastTransitionTime: now,
			Reason: "SomeFinalizersRemain", Message: "Some content in the namespace has finalizers remaining: " + strings.Join(finalizers, ", "),
		})
	}
	return out
}

// mergeConditions applies the new failures (and the "ok" variant of every
// other maintained type) to status, reporting whether anything changed.
func mergeConditions(status *corev1.NamespaceStatus, failures []corev1.NamespaceCondition, now metav1.Time) bool {
	changed := false
	for _, ct := range conditionTypes {
		next := corev1.NamespaceCondition{Type: ct.typ, Status: corev1.ConditionFalse, LastTransitionTime: now, Reason: ct.reason, Message: ct.message}
		for _, f := range failures {
			if f.Type == ct.typ {
				next = f
			}
		}
		idx := slicesIndex(status.Conditions, ct.typ)
		if idx < 0 {
			status.Conditions = append(status.Conditions, next)
			changed = true
			continue
		}
		old := &status.Conditions[idx]
		if old.Status == next.Status && old.Reason == next.Reason && old.Message == next.Message {
			continue
		}
		if old.Status != next.Status {
			old.LastTransitionTime = now
		}
		old.Status, old.Reason, old.Message = next.Status, next.Reason, next.Message
		changed = true
	}
	return changed
}

func slicesIndex(conds []corev1.NamespaceCondition, typ corev1.NamespaceConditionType) int {
	for i := range conds {
		if conds[i].Type == typ {
			return i
		}
	}
	return -1
}

// updateConditions writes the conditions for totals if they changed.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, totals *contentTotals) error {
	now := metav1.Now()
	cp := ns.DeepCopy()
	if !mergeConditions(&cp.Status, failureConditions(totals, now), now) {
		return nil
	}
	updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating namespace status: %w", err)
	}
	*ns = *updated
	return nil
}
