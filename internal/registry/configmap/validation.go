package configmap

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	skiffvalidation "github.com/skiff-sh/skiff/internal/registry/validation"
)

// MaxSize is the upper bound of len(data)+len(binaryData) values in bytes
// (upstream core.MaxSecretSize, shared by Secrets and ConfigMaps).
const MaxSize = 1 * 1024 * 1024

const immutableMsg = "field is immutable when `immutable` is set"

// validateConfigMap is upstream ValidateConfigMap.
func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := skiffvalidation.ValidateObjectMeta(&cm.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	dataPath := field.NewPath("data")
	total := 0
	for key, value := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(value)
	}
	binaryPath := field.NewPath("binaryData")
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(binaryPath.Key(key), key, msg))
		}
		total += len(value)
	}
	if total > MaxSize {
		// The empty path means the error concerns the whole object.
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxSize))
	}
	return errs
}

// validateConfigMapUpdate is upstream ValidateConfigMapUpdate.
func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	errs := skiffvalidation.ValidateObjectMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableMsg))
		}
	}
	return append(errs, validateConfigMap(cm)...)
}
