package pod

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// podEphemeralContainersStrategy implements updates through
// pods/ephemeralcontainers (kubectl debug): only spec.ephemeralContainers
// may change, and only by adding containers.
type podEphemeralContainersStrategy struct {
	podStrategy
}

// EphemeralContainersStrategy is the strategy for the
// pods/ephemeralcontainers subresource.
var EphemeralContainersStrategy = podEphemeralContainersStrategy{Strategy}

var _ generic.UpdateStrategy = podEphemeralContainersStrategy{}

// PrepareForUpdate is upstream's: everything but spec.ephemeralContainers
// is kept from the stored pod (its metadata as a status update keeps it),
// and a changed spec bumps the generation.
func (podEphemeralContainersStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	ephemeral := newPod.Spec.EphemeralContainers
	newPod.Spec = *oldPod.Spec.DeepCopy()
	newPod.Spec.EphemeralContainers = ephemeral
	newPod.Status = oldPod.Status
	newPod.DeletionTimestamp = oldPod.DeletionTimestamp
	newPod.Labels, newPod.Annotations = oldPod.Labels, oldPod.Annotations
	newPod.Finalizers, newPod.OwnerReferences = oldPod.Finalizers, oldPod.OwnerReferences
	newPod.Generation = oldPod.Generation
	if !apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		newPod.Generation++
	}
}

// ValidateUpdate is upstream's ValidatePodEphemeralContainersUpdate.
func (podEphemeralContainersStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newPod, ok1 := obj.(*corev1.Pod)
	oldPod, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T, %T", obj, old))}
	}
	return validatePodEphemeralContainersUpdate(newPod, oldPod)
}

// WarningsOnUpdate returns nothing, as upstream.
func (podEphemeralContainersStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// validatePodEphemeralContainersUpdate is upstream's
// ValidatePodEphemeralContainersUpdate: the new pod is valid, and the
// ephemeral containers it had are all there, unchanged (matched by name: a
// patch does not keep their order).
func validatePodEphemeralContainersUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := skiffvalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, metaPath)
	errs = append(errs, validatePodMetadataAndSpec(newPod)...)
	errs = append(errs, validatePodAnnotationUpdates(newPod, oldPod, metaPath.Child("annotations"))...)
	if _, ok := oldPod.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods do not support ephemeral containers")}
	}
	specPath := field.NewPath("spec", "ephemeralContainers")
	byName := make(map[string]*corev1.EphemeralContainer, len(newPod.Spec.EphemeralContainers))
	for i := range newPod.Spec.EphemeralContainers {
		byName[newPod.Spec.EphemeralContainers[i].Name] = &newPod.Spec.EphemeralContainers[i]
	}
	for _, old := range oldPod.Spec.EphemeralContainers {
		switch cur, ok := byName[old.Name]; {
		case !ok:
			errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", old.Name)))
		case !apiequality.Semantic.DeepEqual(old, *cur):
			errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("existing ephemeral containers %q may not be changed\n%v", old.Name, cmp.Diff(old, *cur))))
		}
	}
	return errs
}

// ephemeralContainerFields are the fields an ephemeral container may set,
// upstream's allowedEphemeralContainerFields: nothing that a pod's own
// service would rely on (ports, probes, lifecycle, resources, restarts).
var ephemeralContainerFields = sets.New(
	"Name", "Image", "Command", "Args", "WorkingDir", "EnvFrom", "Env", "VolumeMounts", "VolumeDevices",
	"TerminationMessagePath", "TerminationMessagePolicy", "ImagePullPolicy", "SecurityContext",
	"Stdin", "StdinOnce", "TTY",
)

// validateEphemeralContainers is upstream's validateEphemeralContainers.
func validateEphemeralContainers(ecs []corev1.EphemeralContainer, containers, initContainers []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	if len(ecs) == 0 {
		return nil
	}
	var errs field.ErrorList
	others, all := sets.New[string](), sets.New[string]()
	for _, c := range append(append([]corev1.Container{}, containers...), initContainers...) {
		others.Insert(c.Name)
		all.Insert(c.Name)
	}
	for i := range ecs {
		ec := &ecs[i]
		path := fldPath.Index(i)
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		errs = append(errs, validateContainerCommon(c, cc, path)...)
		if len(c.Image) != len(strings.TrimSpace(c.Image)) {
			errs = append(errs, field.Invalid(path.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if all.Has(ec.Name) {
			errs = append(errs, field.Duplicate(path.Child("name"), ec.Name))
		} else {
			all.Insert(ec.Name)
		}
		if ec.TargetContainerName != "" && !others.Has(ec.TargetContainerName) {
			errs = append(errs, field.NotFound(path.Child("targetContainerName"), ec.TargetContainerName))
		}
		errs = append(errs, forbidFieldsOutside(ec.EphemeralContainerCommon, ephemeralContainerFields, path)...)
		for j, vm := range ec.VolumeMounts {
			if vm.SubPath != "" {
				errs = append(errs, field.Forbidden(path.Child("volumeMounts").Index(j).Child("subPath"), "cannot be set for an Ephemeral Container"))
			}
			if vm.SubPathExpr != "" {
				errs = append(errs, field.Forbidden(path.Child("volumeMounts").Index(j).Child("subPathExpr"), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return errs
}

// forbidFieldsOutside is upstream's validateFieldAllowList: every field of
// v not in allowed and not zero is Forbidden, in declaration order.
func forbidFieldsOutside(v any, allowed sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if allowed.Has(f.Name) || rv.Field(i).IsZero() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		errs = append(errs, field.Forbidden(fldPath.Child(name), "cannot be set for an Ephemeral Container"))
	}
	return errs
}
