package job

import (
	"fmt"
	"log/slog"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// policyMatch is the outcome of matching a failed pod against a
// podFailurePolicy.
type policyMatch struct {
	// failJobMessage is set when a FailJob rule matched.
	failJobMessage *string
	// countFailed is false when an Ignore rule matched.
	countFailed bool
	// action is the matched rule's action, nil when no rule matched.
	action *batchv1.PodFailurePolicyAction
}

// matchPodFailurePolicy evaluates the rules in order; the first match decides.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) policyMatch {
	if policy == nil {
		return policyMatch{countFailed: true}
	}
	for i, rule := range policy.Rules {
		action := rule.Action
		var failMsg string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchOnExitCodes(&pod.Status, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			failMsg = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			cond := matchOnPodConditions(&pod.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			failMsg = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		switch action {
		case batchv1.PodFailurePolicyActionIgnore:
			return policyMatch{countFailed: false, action: &action}
		case batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionCount:
			return policyMatch{countFailed: true, action: &action}
		case batchv1.PodFailurePolicyActionFailJob:
			return policyMatch{failJobMessage: &failMsg, countFailed: true, action: &action}
		}
		// An unknown action matches nothing; later rules still apply.
	}
	return policyMatch{countFailed: true}
}

func matchOnExitCodes(st *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	if cs := matchingContainer(st.ContainerStatuses, req); cs != nil {
		return cs
	}
	return matchingContainer(st.InitContainerStatuses, req)
}

// matchingContainer returns the first terminated container with a non-zero
// exit code that satisfies the requirement.
func matchingContainer(statuses []corev1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for i := range statuses {
		cs := &statuses[i]
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		if exitCodeMatches(t.ExitCode, req) {
			return cs
		}
	}
	return nil
}

func exitCodeMatches(code int32, req *batchv1.PodFailurePolicyOnExitCodesRequirement) bool {
	in := false
	for _, v := range req.Values {
		if v == code {
			in = true
			break
		}
	}
	switch req.Operator {
	case batchv1.PodFailurePolicyOnExitCodesOpIn:
		return in
	case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
		return !in
	default:
		return false
	}
}

func matchOnPodConditions(st *corev1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		for _, p := range patterns {
			status := p.Status
			if status == "" {
				status = corev1.ConditionTrue
			}
			if c.Type == p.Type && c.Status == status {
				return c
			}
		}
	}
	return nil
}

// failJobMessage returns the message of the first failed pod matching a
// FailJob rule, or nil.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) *string {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if isPodFailed(p, job) {
			if m := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); m.failJobMessage != nil {
				return m.failJobMessage
			}
		}
	}
	return nil
}

// matchSuccessPolicy returns the SuccessCriteriaMet message of the first rule
// the succeeded indexes satisfy.
func matchSuccessPolicy(logger *slog.Logger, policy *batchv1.SuccessPolicy, completions int, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		if rule.SucceededIndexes != nil {
			required := parseIntervals(logger, *rule.SucceededIndexes, completions)
			if len(required) == 0 {
				continue
			}
			if succeededIndexesRuleMet(required, succeeded, rule.SucceededCount) {
				return fmt.Sprintf("Matched rules at index %d", i), true
			}
		} else if rule.SucceededCount != nil && succeeded.total() >= int(*rule.SucceededCount) {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// succeededIndexesRuleMet reports whether all required indexes succeeded, or
// at least count of them when count is set.
func succeededIndexesRuleMet(required, succeeded intervals, count *int32) bool {
	contains := 0
	r, s := 0, 0
	for r < len(required) && s < len(succeeded) {
		if overlap := min(required[r].last, succeeded[s].last) - max(required[r].first, succeeded[s].first) + 1; overlap > 0 {
			contains += overlap
		}
		switch {
		case succeeded[s].last < required[r].last:
			s++
		case succeeded[s].last > required[r].last:
			r++
		default:
			s++
			r++
		}
	}
	return contains == required.total() || (count != nil && contains >= int(*count))
}
