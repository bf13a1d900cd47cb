package job

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func withPodFailurePolicy(rules ...batchv1.PodFailurePolicyRule) func(*batchv1.Job) {
	return func(j *batchv1.Job) { j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules} }
}

func onExit(op batchv1.PodFailurePolicyOnExitCodesOperator, values ...int32) *batchv1.PodFailurePolicyOnExitCodesRequirement {
	return &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: values}
}

func withSuccessPolicy(completions int32, rules ...batchv1.SuccessPolicyRule) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		indexed(completions)(j)
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: rules}
	}
}

func TestStrategy_Validate_Policies(t *testing.T) {
	t.Parallel()
	const rule0 = "spec.podFailurePolicy.rules[0]"
	in := batchv1.PodFailurePolicyOnExitCodesOpIn
	manyRules := make([]batchv1.PodFailurePolicyRule, 21)
	for i := range manyRules {
		manyRules[i] = batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: onExit(in, 1)}
	}
	manyValues := make([]int32, 256)
	for i := range manyValues {
		manyValues[i] = int32(i + 1)
	}
	tests := map[string]struct {
		mutate func(*batchv1.Job)
		want   []string
	}{
		"more than 20 rules": {
			mutate: withPodFailurePolicy(manyRules...),
			want:   []string{"spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items"},
		},
		"a rule without action": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{OnExitCodes: onExit(in, 1)}),
			want:   []string{rule0 + `.action: Required value: valid values: ["Count" "FailIndex" "FailJob" "Ignore"]`},
		},
		"an unknown action": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: "Retry", OnExitCodes: onExit(in, 1)}),
			want:   []string{rule0 + `.action: Unsupported value: "Retry": supported values: "Count", "FailIndex", "FailJob", "Ignore"`},
		},
		"FailIndex without backoffLimitPerIndex": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: onExit(in, 1)}),
			want:   []string{rule0 + `.action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set`},
		},
		"neither onExitCodes nor onPodConditions": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob}),
			want:   []string{rule0 + ": Invalid value: specifying one of OnExitCodes and OnPodConditions is required"},
		},
		"both onExitCodes and onPodConditions": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{
				Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: onExit(in, 1),
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}),
			want: []string{rule0 + ": Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"},
		},
		"onExitCodes without operator and values": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: onExit("")}),
			want: []string{
				rule0 + `.onExitCodes.operator: Required value: valid values: ["In" "NotIn"]`,
				rule0 + ".onExitCodes.values: Invalid value: null: at least one value is required",
			},
		},
		"onExitCodes with an unknown operator": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: onExit("Gt", 1)}),
			want:   []string{rule0 + `.onExitCodes.operator: Unsupported value: "Gt": supported values: "In", "NotIn"`},
		},
		"onExitCodes values 0 with In, duplicated and unordered": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: onExit(in, 0, 5, 5, 3)}),
			want: []string{
				rule0 + ".onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
				rule0 + ".onExitCodes.values[2]: Duplicate value: 5",
				rule0 + ".onExitCodes.values: Invalid value: [0,5,5,3]: must be ordered",
			},
		},
		"onExitCodes with more than 255 values": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: onExit(batchv1.PodFailurePolicyOnExitCodesOpNotIn, manyValues...)}),
			want:   []string{rule0 + ".onExitCodes.values: Too many: 256: must have at most 255 items"},
		},
		"onExitCodes naming an unknown container": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("nope"), Operator: in, Values: []int32{1}}}),
			want: []string{rule0 + `.onExitCodes.containerName: Invalid value: "nope": must be one of the container or initContainer names in the pod template`},
		},
		"onPodConditions with a bad type and status": {
			mutate: withPodFailurePolicy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "bad type", Status: "Maybe"}}}),
			want: []string{
				rule0 + `.onPodConditions[0].type: Invalid value: "bad type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				rule0 + `.onPodConditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"`,
			},
		},
		"successPolicy without rules": {
			mutate: withSuccessPolicy(3),
			want:   []string{"spec.successPolicy.rules: Required value: at least one rules must be specified when the successPolicy is specified"},
		},
		"successPolicy rule without criteria": {
			mutate: withSuccessPolicy(3, batchv1.SuccessPolicyRule{}),
			want:   []string{"spec.successPolicy.rules[0]: Required value: at least one of succeededCount or succeededIndexes must be specified"},
		},
		"successPolicy with more than 20 rules": {
			mutate: withSuccessPolicy(3, repeatRule(21)...),
			want:   []string{"spec.successPolicy.rules: Too many: 21: must have at most 20 items"},
		},
		"succeededIndexes out of range": {
			mutate: withSuccessPolicy(3, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-3")}),
			want:   []string{`spec.successPolicy.rules[0].succeededIndexes: Invalid value: "0-3": error parsing succeededIndexes: too large index: "3"`},
		},
		"succeededIndexes not increasing": {
			mutate: withSuccessPolicy(5, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("2,1")}),
			want:   []string{`spec.successPolicy.rules[0].succeededIndexes: Invalid value: "2,1": error parsing succeededIndexes: non-increasing order, previous: 2, current: 1`},
		},
		"succeededIndexes not a number": {
			mutate: withSuccessPolicy(5, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("a")}),
			want:   []string{`spec.successPolicy.rules[0].succeededIndexes: Invalid value: "a": error parsing succeededIndexes: cannot convert string to integer for index: "a"`},
		},
		"succeededIndexes with three parts": {
			mutate: withSuccessPolicy(5, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("1-2-3")}),
			want:   []string{`spec.successPolicy.rules[0].succeededIndexes: Invalid value: "1-2-3": error parsing succeededIndexes: the fragment "1-2-3" violates the requirement that an index interval can have at most two parts separated by '-'`},
		},
		"succeededCount above completions and above the indexes": {
			mutate: withSuccessPolicy(3, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0"), SucceededCount: int32p(4)}),
			want: []string{
				"spec.successPolicy.rules[0].succeededCount: Invalid value: 4: must be less than or equal to 3 (the number of specified completions)",
				"spec.successPolicy.rules[0].succeededCount: Invalid value: 4: must be less than or equal to 1 (the number of indexes in the specified succeededIndexes field)",
			},
		},
		"succeededIndexes longer than 64KiB": {
			mutate: withSuccessPolicy(3, batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To(strings.Repeat("0", 64*1024+1))}),
			want:   []string{"spec.successPolicy.rules[0].succeededIndexes: Too long: may not be more than 65536 bytes"},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			job := newJob("pi", tc.mutate)
			got := jobErrors(job, Strategy.Validate(context.Background(), job))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func repeatRule(n int) []batchv1.SuccessPolicyRule {
	rules := make([]batchv1.SuccessPolicyRule, n)
	for i := range rules {
		rules[i] = batchv1.SuccessPolicyRule{SucceededCount: int32p(1)}
	}
	return rules
}
