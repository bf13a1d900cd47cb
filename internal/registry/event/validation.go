package event

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of upstream's event validation.
const (
	ReportingInstanceLengthLimit = 128
	ActionLengthLimit            = 128
	ReasonLengthLimit            = 128
	NoteLengthLimit              = 1024
)

const namespaceMismatch = "does not match event.namespace"

// legacyValidate is upstream legacyValidateEvent, the only event-specific
// validation kube-apiserver applies to core/v1 events.
func legacyValidate(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	involvedNS := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		// Old-style event: its namespace must match the involved object's,
		// or be empty or "default" for a cluster-scoped object.
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, namespaceMismatch))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, namespaceMismatch))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, namespaceMismatch))
		}
		errs = append(errs, validateNewStyle(ev)...)
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return errs
}

// validateNewStyle checks the fields an event with eventTime must carry.
func validateNewStyle(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	}
	for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
		errs = append(errs, field.Invalid(field.NewPath("reportingController"), ev.ReportingController, msg))
	}
	errs = append(errs, requiredAndLimited(ev.ReportingInstance, "reportingInstance", ReportingInstanceLengthLimit)...)
	errs = append(errs, requiredAndLimited(ev.Action, "action", ActionLengthLimit)...)
	errs = append(errs, requiredAndLimited(ev.Reason, "reason", ReasonLengthLimit)...)
	if len(ev.Message) > NoteLengthLimit {
		errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", NoteLengthLimit)))
	}
	return errs
}

func requiredAndLimited(value, name string, limit int) field.ErrorList {
	var errs field.ErrorList
	if value == "" {
		errs = append(errs, field.Required(field.NewPath(name), ""))
	}
	if len(value) > limit {
		errs = append(errs, field.Invalid(field.NewPath(name), "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}

// pathSegmentName is kube-apiserver's generic name rule: a name usable as a
// URL path segment.
func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}
