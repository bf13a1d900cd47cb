package openapi

import (
	"fmt"
	"sort"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK is the vendor extension kube-apiserver puts on definitions
// and operations to say which group/version/kind they belong to; kubectl
// explain and the field-validation verifier look objects up by it.
const extensionGVK = "x-kubernetes-group-version-kind"

// newDefaultScheme registers the group versions whose definitions
// zz_generated.openapi.go holds (hack/update-openapi.sh lists the same
// packages). It is used when Options.Scheme is nil.
func newDefaultScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	builders := []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		coordinationv1.AddToScheme,
		policyv1.AddToScheme,
		authenticationv1.AddToScheme,
		authorizationv1.AddToScheme,
		rbacv1.AddToScheme,
		apidiscoveryv2.AddToScheme,
		autoscalingv1.AddToScheme,
	}
	for _, add := range builders {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building default scheme: %w", err)
		}
	}
	return s, nil
}

// definitionNamer names definitions and lists, for each definition that is a
// kind of the scheme, every group/version/kind it is served as: what
// kube-apiserver's DefinitionNamer (k8s.io/apiserver/pkg/endpoints/openapi)
// does, without its fatal exit on a bad scheme.
type definitionNamer struct {
	gvks map[string][]metav1.GroupVersionKind
}

func newDefinitionNamer(s *runtime.Scheme) (*definitionNamer, error) {
	n := &definitionNamer{gvks: map[string][]metav1.GroupVersionKind{}}
	for gvk := range s.AllKnownTypes() {
		name, err := s.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("naming definition of %v: %w", gvk, err)
		}
		n.gvks[name] = append(n.gvks[name], metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind})
	}
	for _, list := range n.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n, nil
}

// GetDefinitionName implements common.Config.GetDefinitionName. The
// generated definitions are already keyed by REST-friendly model names
// (io.k8s.api.batch.v1.Job), so names pass through unchanged.
func (n *definitionNamer) GetDefinitionName(name string) (string, spec.Extensions) {
	list, ok := n.gvks[name]
	if !ok {
		return name, nil
	}
	return name, spec.Extensions{extensionGVK: gvkExtension(list)}
}

// gvkExtension renders GVKs the way upstream does: a JSON-like list of maps,
// so that post-processing (filterScopedGVKs) can read it back.
func gvkExtension(list []metav1.GroupVersionKind) []interface{} {
	out := make([]interface{}, 0, len(list))
	for _, gvk := range list {
		out = append(out, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return out
}
