// Package scheme holds the one runtime.Scheme Skiff serves and stores: the
// k8s.io/api versioned types (Skiff has no internal versions), the meta.k8s.io
// types clients negotiate (Table, PartialObjectMetadata, DeleteOptions,
// Status...) and the codecs built from them.
//
// The scheme is built once and never changed afterwards, so sharing it is
// safe; that is why it is a package-level value.
package scheme

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

var (
	// Scheme knows every type Skiff serves.
	Scheme = newScheme()
	// Codecs encodes and decodes with Scheme: JSON, YAML and protobuf.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec decodes query parameters into option structs.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
)

// Unversioned is the group version of meta types registered without one.
var Unversioned = schema.GroupVersion{Group: "", Version: "v1"}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	builders := []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		coordinationv1.AddToScheme,
		policyv1.AddToScheme,
		rbacv1.AddToScheme,
		authenticationv1.AddToScheme,
		authorizationv1.AddToScheme,
		apidiscoveryv2.AddToScheme,
		metav1.AddMetaToScheme,
		metav1beta1.AddMetaToScheme,
	}
	for _, add := range builders {
		utilruntime.Must(add(s))
	}
	// Status, APIVersions, APIGroupList... are served under the legacy
	// "v1" as kube-apiserver does; DeleteOptions and friends decode with
	// any apiVersion because they are unversioned.
	metav1.AddToGroupVersion(s, Unversioned)
	for _, gv := range []schema.GroupVersion{corev1.SchemeGroupVersion, batchv1.SchemeGroupVersion,
		coordinationv1.SchemeGroupVersion, policyv1.SchemeGroupVersion, rbacv1.SchemeGroupVersion} {
		utilruntime.Must(s.SetVersionPriority(gv))
	}
	return s
}
