package job

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	uidSel           = `"batch.kubernetes.io/controller-uid":"` + string(testUID) + `"`
	dns1123Subdomain = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
)

func indexed(completions int32) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.Completions = int32p(completions)
	}
}

func failJobOnExit(values ...int32) *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: values},
	}}}
}

// validateCreateCases cover checklist items 58-74 and the other create rules
// of spec §8.1.
var validateCreateCases = map[string]struct {
	name   string
	mutate func(*batchv1.Job)
	want   []string
	// withPodErrors: want lists the pod package's template errors too.
	withPodErrors bool
}{
	"the base job is valid": {name: "pi"},
	"58: no restartPolicy": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" },
		want:   []string{`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`},
	},
	"59: restartPolicy Always": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
		want:   []string{`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`},
	},
	"restartPolicy Bogus: the pod rule and the Job rule": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Bogus" },
		want: []string{
			`spec.template.spec.restartPolicy: Unsupported value: "Bogus": supported values: "Always", "OnFailure", "Never"`,
			`spec.template.spec.restartPolicy: Unsupported value: "Bogus": supported values: "OnFailure", "Never"`,
		},
		withPodErrors: true,
	},
	"60: negative parallelism and backoffLimit": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.Parallelism, j.Spec.BackoffLimit = int32p(-1), int32p(-2) },
		want: []string{
			"spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
			"spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
		},
	},
	"negative counters of every kind": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.Completions = int32p(-1)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1)
			j.Spec.TTLSecondsAfterFinished = int32p(-1)
		},
		want: []string{
			"spec.completions: Invalid value: -1: must be greater than or equal to 0",
			"spec.activeDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
			"spec.ttlSecondsAfterFinished: Invalid value: -1: must be greater than or equal to 0",
		},
	},
	"61: Indexed without completions": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Parallelism = int32p(2)
		},
		want: []string{"spec.completions: Required value: when completion mode is Indexed"},
	},
	"62: Indexed, completions 10, 62-character name": {
		name:   name(62),
		mutate: indexed(10),
		want:   []string{`metadata.name: Invalid value: "` + name(62) + `": will not able to create pod with invalid DNS label: ` + name(62) + `-9`},
	},
	"62: Indexed, completions 10, 61-character name": {name: name(61), mutate: indexed(10)},
	"63: a 64-character name breaks the generated job-name labels": {
		name:          name(64),
		withPodErrors: true,
		want: []string{
			`spec.template.labels: Invalid value: "` + name(64) + `": must be no more than 63 bytes`,
			`spec.template.labels: Invalid value: "` + name(64) + `": must be no more than 63 bytes`,
		},
	},
	"64: name Pi": {
		name: "Pi",
		want: []string{`metadata.name: Invalid value: "Pi": ` + dns1123Subdomain},
	},
	"64: name a.b": {name: "a.b"},
	"no name": {
		name: "",
		want: []string{"metadata.name: Required value: name or generateName is required"},
	},
	"65: selector without manualSelector": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		},
		want: []string{
			`spec.selector: Invalid value: {"matchLabels":{"a":"b",` + uidSel + `}}: ` + "`selector` not auto-generated",
			`spec.template.metadata.labels: Invalid value: {` + uidSel + `,"batch.kubernetes.io/job-name":"pi","controller-uid":"` + string(testUID) + `","job-name":"pi"}: ` + "`selector` does not match template `labels`",
		},
	},
	"66: manualSelector without selector": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.ManualSelector = ptr.To(true) },
		want: []string{
			"spec.selector: Required value",
			"spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`",
		},
	},
	"manualSelector with labels that do not match": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			j.Spec.Template.Labels = map[string]string{"a": "c"}
		},
		want: []string{`spec.template.metadata.labels: Invalid value: {"a":"c"}: ` + "`selector` does not match template `labels`"},
	},
	"67: manualSelector with matching labels": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			j.Spec.Template.Labels = map[string]string{"a": "b"}
		},
	},
	"a generated label key with a foreign value": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"job-name": "other"} },
		want: []string{
			`spec.template.metadata.labels[job-name]: Invalid value: {` + uidSel + `,"batch.kubernetes.io/job-name":"pi","controller-uid":"` + string(testUID) + `","job-name":"other"}: must be 'pi'`,
		},
	},
	"69: podFailurePolicy with restartPolicy OnFailure": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = failJobOnExit(42)
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		},
		want: []string{`spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified`},
	},
	"70: successPolicy on a NonIndexed Job": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: int32p(1)}}}
		},
		want: []string{`spec.successPolicy: Invalid value: {"Rules":[{"SucceededIndexes":null,"SucceededCount":1}]}: requires indexed completion mode`},
	},
	"71: backoffLimitPerIndex on a NonIndexed Job": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = int32p(1) },
		want:   []string{"spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"},
	},
	"maxFailedIndexes on a NonIndexed Job without backoffLimitPerIndex": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = int32p(1) },
		want: []string{
			"spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified",
			"spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode",
		},
	},
	"maxFailedIndexes above completions": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			indexed(2)(j)
			j.Spec.BackoffLimitPerIndex = int32p(1)
			j.Spec.MaxFailedIndexes = int32p(3)
		},
		want: []string{"spec.maxFailedIndexes: Invalid value: 3: must be less than or equal to completions"},
	},
	"72: podReplacementPolicy TerminatingOrFailed with a podFailurePolicy": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = failJobOnExit(42)
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		},
		want: []string{`spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed"`},
	},
	"an unknown podReplacementPolicy": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(batchv1.PodReplacementPolicy("Sometimes")) },
		want:   []string{`spec.podReplacementPolicy: Unsupported value: "Sometimes": supported values: "Failed", "TerminatingOrFailed"`},
	},
	"73: managedBy foo": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("foo") },
		want:   []string{`spec.managedBy: Invalid value: "foo": must be a domain-prefixed path (such as "acme.io/foo")`},
	},
	"managedBy longer than 63": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("example.com/" + strings.Repeat("x", 52)) },
		want:   []string{"spec.managedBy: Too long: may not be more than 63 bytes"},
	},
	"managedBy of the built-in controller": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To(batchv1.JobControllerName) },
	},
	"74: orphan and foregroundDeletion finalizers": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Finalizers = []string{"orphan", "foregroundDeletion"} },
		want:   []string{`metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set`},
	},
	"an unqualified custom finalizer": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Finalizers = []string{"hold"} },
		want:   []string{`metadata.finalizers[0]: Invalid value: "hold": name is neither a standard finalizer name nor is it fully qualified`},
	},
	"an unknown completionMode": {
		name:   "pi",
		mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Foo")) },
		want:   []string{`spec.completionMode: Unsupported value: "Foo": supported values: "NonIndexed", "Indexed"`},
	},
	"Indexed parallelism above 100000": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			indexed(5)(j)
			j.Spec.Parallelism = int32p(100_001)
		},
		want: []string{"spec.parallelism: Invalid value: 100001: must be less than or equal to 100000 when completion mode is Indexed"},
	},
	"Indexed with many completions and backoffLimitPerIndex needs maxFailedIndexes": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			indexed(100_001)(j)
			j.Spec.BackoffLimitPerIndex = int32p(1)
			j.Spec.Parallelism = int32p(10_001)
		},
		want: []string{
			"spec.maxFailedIndexes: Required value: must be specified when completions is above 100000",
			"spec.parallelism: Invalid value: 10001: must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index",
		},
	},
	"a valid Indexed Job with every policy": {
		name: "pi",
		mutate: func(j *batchv1.Job) {
			indexed(5)(j)
			j.Spec.BackoffLimitPerIndex = int32p(1)
			j.Spec.MaxFailedIndexes = int32p(2)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("c"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 2, 3}}},
				{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}},
			}}
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,2-4"), SucceededCount: int32p(3)}}}
		},
	},
}

func TestStrategy_Validate_Create(t *testing.T) {
	t.Parallel()
	for tname, tc := range validateCreateCases {
		t.Run(tname, func(t *testing.T) {
			t.Parallel()
			job := newJob(tc.name, tc.mutate)
			errs := Strategy.Validate(context.Background(), job)
			got := jobErrors(job, errs)
			if tc.withPodErrors {
				got = nil
				for _, e := range errs {
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
