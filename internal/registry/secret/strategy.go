package secret

import (
	"context"
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// secretStrategy implements generic.Strategy for Secrets
// (upstream pkg/registry/core/secret/strategy.go).
type secretStrategy struct{}

// Strategy is the create and update logic for Secrets.
var Strategy = secretStrategy{}

var _ generic.Strategy = secretStrategy{}

// SetDefaults applies upstream SetDefaults_Secret (an empty type becomes
// Opaque) and folds stringData into data, which upstream does when it
// converts a v1 Secret to its internal form: stringData wins over data and
// is never stored or returned. It is idempotent.
func SetDefaults(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	foldStringData(s)
}

func foldStringData(s *corev1.Secret) {
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

func (secretStrategy) NamespaceScoped() bool { return true }

// PrepareForCreate folds stringData into data in case the caller skipped
// SetDefaults; it never stores stringData.
func (secretStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if s, ok := obj.(*corev1.Secret); ok {
		foldStringData(s)
	}
}

func (secretStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return unexpectedType(obj)
	}
	return validateSecret(s)
}

func (secretStrategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return warnings(s)
}

func (secretStrategy) AllowCreateOnUpdate() bool { return false }

func (secretStrategy) AllowUnconditionalUpdate() bool { return true }

// PrepareForUpdate keeps the old type when the update leaves it empty, as
// upstream does, and folds stringData into data.
func (secretStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if oldSecret, ok := old.(*corev1.Secret); ok && s.Type == "" {
		s.Type = oldSecret.Type
	}
	foldStringData(s)
}

func (secretStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return unexpectedType(obj)
	}
	oldSecret, ok := old.(*corev1.Secret)
	if !ok {
		return unexpectedType(old)
	}
	return validateSecretUpdate(s, oldSecret)
}

func (secretStrategy) WarningsOnUpdate(_ context.Context, obj, _ runtime.Object) []string {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return warnings(s)
}

// warnings is upstream warningsForSecret: a TLS secret whose key does not
// match its certificate is accepted with a warning.
func warnings(s *corev1.Secret) []string {
	if s.Type != corev1.SecretTypeTLS {
		return nil
	}
	if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// GetAttrs returns the labels and the field-selector fields of a Secret:
// metadata.name, metadata.namespace and type, as upstream.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil, nil, fmt.Errorf("not a secret: %T", obj)
	}
	return labels.Set(s.Labels), fields.Set{
		"metadata.name":      s.Name,
		"metadata.namespace": s.Namespace,
		"type":               string(s.Type),
	}, nil
}

var _ generic.AttrFunc = GetAttrs

func unexpectedType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T, want *v1.Secret", obj))}
}
