package pod

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// Upstream's names for the token volume the ServiceAccount admission plugin
// adds (plugin/pkg/admission/serviceaccount).
const (
	DefaultServiceAccountName = "default"
	// TokenVolumePrefix starts the generated volume's name.
	TokenVolumePrefix = "kube-api-access-"
	// TokenMountPath is where every container finds token, ca.crt and
	// namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is what the root CA publisher writes in each namespace.
	RootCAConfigMap = "kube-root-ca.crt"
	// tokenVolumeSeconds is the lifetime the volume asks for (upstream's
	// WarnOnlyBoundTokenExpirationSeconds).
	tokenVolumeSeconds = 60*60 + 7
	// defaultTolerationSeconds is DefaultTolerationSeconds' default for
	// not-ready and unreachable nodes.
	defaultTolerationSeconds = 300
)

// ServiceAccountGetter reads a service account: from the watch cache unless
// live is set.
type ServiceAccountGetter func(ctx context.Context, namespace, name string, live bool) (*corev1.ServiceAccount, error)

// Admission is the mutating admission upstream's default plugins apply to
// a pod create, in their order: ServiceAccount, Priority (without
// PriorityClass objects: only the built-in system classes resolve) and
// DefaultTolerationSeconds. Its errors are upstream's 403s.
type Admission struct {
	ServiceAccounts ServiceAccountGetter
	// Sleep waits between the lookups of a missing default service
	// account; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// AdmitCreate mutates a pod being created.
func (a *Admission) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	if err := a.admitServiceAccount(ctx, pod); err != nil {
		return err
	}
	if err := admitPriority(pod); err != nil {
		return err
	}
	addDefaultTolerations(pod)
	return nil
}

func forbidden(pod *corev1.Pod, err error) error {
	return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, err)
}

func (a *Admission) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	spec := &pod.Spec
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = DefaultServiceAccountName
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	sa, err := a.serviceAccount(ctx, pod.Namespace, spec.ServiceAccountName)
	if err != nil {
		return forbidden(pod, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, spec.ServiceAccountName, err))
	}
	if automount(sa, spec) {
		mountToken(spec)
	}
	if len(spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			spec.ImagePullSecrets[i].Name = s.Name
		}
	}
	return nil
}

// serviceAccount is upstream's getServiceAccount: the cache, then live
// reads, ten of them 100 - 200 ms apart for "default", which the service
// account controller creates moments after its namespace.
func (a *Admission) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := a.ServiceAccounts(ctx, namespace, name, false)
	if err == nil || !apierrors.IsNotFound(err) {
		return sa, err
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = 10
	}
	interval := time.Duration(100+rand.IntN(100)) * time.Millisecond
	for i := range attempts {
		if i > 0 {
			if err := a.sleep(ctx, interval); err != nil {
				return nil, err
			}
		}
		sa, err := a.ServiceAccounts(ctx, namespace, name, true)
		if err == nil || !apierrors.IsNotFound(err) {
			return sa, err
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
}

func (a *Admission) sleep(ctx context.Context, d time.Duration) error {
	if a.Sleep != nil {
		return a.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// automount: the pod's choice, else the service account's, else true.
func automount(sa *corev1.ServiceAccount, spec *corev1.PodSpec) bool {
	if spec.AutomountServiceAccountToken != nil {
		return *spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken adds the kube-api-access volume and mounts it in every init
// and regular container that has nothing mounted at TokenMountPath.
func mountToken(spec *corev1.PodSpec) {
	name, has := "", false
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.Name, TokenVolumePrefix) {
			name, has = v.Name, true
			break
		}
	}
	if name == "" {
		name = TokenVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if !mountsAt(cs[i].VolumeMounts, TokenMountPath) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if has || !needed {
		return
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
}

func mountsAt(ms []corev1.VolumeMount, path string) bool {
	for _, m := range ms {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// TokenVolumeSource is upstream's projection: a pod-bound token, the
// cluster's CA and the namespace.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: new(int32(corev1.ProjectedVolumeSourceDefaultMode)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(int64(tokenVolumeSeconds))}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// systemPriorityClasses are the PriorityClasses kube-apiserver creates at
// start (pkg/apis/scheduling): the only ones that exist here.
var systemPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

// admitPriority is upstream's Priority plugin on create with no default
// PriorityClass: priority 0 and PreemptLowerPriority unless a system class
// is named.
func admitPriority(pod *corev1.Pod) error {
	spec := &pod.Spec
	var priority int32
	if name := spec.PriorityClassName; name != "" {
		p, ok := systemPriorityClasses[name]
		if !ok {
			return forbidden(pod, fmt.Errorf("no PriorityClass with name %v was found", name))
		}
		priority = p
	}
	if spec.Priority != nil && *spec.Priority != priority {
		return forbidden(pod, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *spec.Priority, priority))
	}
	policy := corev1.PreemptLowerPriority
	if spec.PreemptionPolicy != nil && *spec.PreemptionPolicy != policy {
		return forbidden(pod, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *spec.PreemptionPolicy, policy))
	}
	spec.Priority, spec.PreemptionPolicy = &priority, &policy
	return nil
}

// addDefaultTolerations is DefaultTolerationSeconds: tolerate a not-ready or
// unreachable node for 300 s unless the pod already tolerates it.
func addDefaultTolerations(pod *corev1.Pod) {
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		if noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == "") {
			notReady = true
		}
		if noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == "") {
			unreachable = true
		}
	}
	for _, add := range []struct {
		key  string
		have bool
	}{{corev1.TaintNodeNotReady, notReady}, {corev1.TaintNodeUnreachable, unreachable}} {
		if !add.have {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: add.key, Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(defaultTolerationSeconds))})
		}
	}
}
