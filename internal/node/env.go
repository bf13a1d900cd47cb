package node

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// sources fetches the ConfigMaps and Secrets a container refers to, once
// per container start. A nil entry records a missing object.
type sources struct {
	w          *podWorker
	ns         string
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (s *sources) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := s.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := s.w.a.client.CoreV1().ConfigMaps(s.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading configmap %q: %w", name, err)
	}
	s.configMaps[name] = cm
	return cm, nil
}

func (s *sources) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	sec, err := s.w.a.client.CoreV1().Secrets(s.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sec, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading secret %q: %w", name, err)
	}
	s.secrets[name] = sec
	return sec, nil
}

func (w *podWorker) newSources(ns string) *sources {
	return &sources{w: w, ns: ns, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// resolveEnv builds a container's environment as the kubelet: envFrom
// sources first, then env in order, each value expanded against the
// variables defined before it. A missing required ConfigMap, Secret or key
// is an error (the container waits in CreateContainerConfigError).
func (w *podWorker) resolveEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]crt.EnvVar, error) {
	services, err := w.a.serviceEnv(pod)
	if err != nil {
		return nil, err
	}
	src := w.newSources(pod.Namespace)
	var out []crt.EnvVar
	// vars is what $(VAR) expands against: the container's own variables
	// so far over the services'. The services' are added last, unless the
	// container set them, as the kubelet does.
	vars := maps.Clone(services)
	own := map[string]bool{}
	set := func(k, v string) {
		out = append(out, crt.EnvVar{Name: k, Value: v})
		vars[k] = v
		own[k] = true
	}
	for _, ef := range c.EnvFrom {
		data, err := envFromData(ctx, src, ef)
		if err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			name := ef.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				continue
			}
			set(name, data[k])
		}
	}
	for i := range c.Env {
		val, ok, err := w.envValue(ctx, src, pod, c, &c.Env[i], vars)
		if err != nil {
			return nil, err
		}
		if ok {
			set(c.Env[i].Name, val)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(services)) {
		if !own[k] {
			out = append(out, crt.EnvVar{Name: k, Value: services[k]})
		}
	}
	return out, nil
}

func envFromData(ctx context.Context, src *sources, ef corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case ef.ConfigMapRef != nil:
		cm, err := src.configMap(ctx, ef.ConfigMapRef.Name)
		if err != nil {
			return nil, err
		}
		if cm == nil {
			if isOptional(ef.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q not found", ef.ConfigMapRef.Name)
		}
		return cm.Data, nil
	case ef.SecretRef != nil:
		sec, err := src.secret(ctx, ef.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		if sec == nil {
			if isOptional(ef.SecretRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q not found", ef.SecretRef.Name)
		}
		data := make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

func isOptional(b *bool) bool { return b != nil && *b }

// envValue resolves one env entry; ok is false for an optional source that
// is missing (the variable is then not set).
func (w *podWorker) envValue(ctx context.Context, src *sources, pod *corev1.Pod, c *corev1.Container, e *corev1.EnvVar, vars map[string]string) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf == nil:
		return crt.ExpandVars(e.Value, vars), true, nil
	case vf.FieldRef != nil:
		v, err := w.fieldValue(pod, vf.FieldRef.FieldPath)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := w.resourceValue(pod, c.Name, vf.ResourceFieldRef)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.configMap(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if isOptional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, err := src.secret(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if sec == nil {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		if v, ok := sec.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if isOptional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	}
	return "", false, fmt.Errorf("env %q: unsupported value source", e.Name)
}

// fieldValue is the downward API for env and downwardAPI volumes.
func (w *podWorker) fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.podIP", "status.hostIPs", "status.podIPs":
		return w.a.cfg.NodeIP, nil
	}
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// subscript parses prefix['key'] (or prefix["key"]).
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") || len(rest) < 3 {
		return "", false
	}
	rest = rest[:len(rest)-1]
	if q := rest[0]; (q == '\'' || q == '"') && rest[len(rest)-1] == q {
		return rest[1 : len(rest)-1], true
	}
	return "", false
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resourceValue is a resourceFieldRef: the container's request or limit
// divided by the divisor and rounded up; an unset limit is the node's
// allocatable amount, as the kubelet reports it.
func (w *podWorker) resourceValue(pod *corev1.Pod, containerName string, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" {
		containerName = ref.ContainerName
	}
	var c *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == containerName {
				c = &list[i]
			}
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found for resourceFieldRef %s", containerName, ref.Resource)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, set := list[corev1.ResourceName(name)]
	if !set && kind == "limits" {
		q = w.a.allocatable()[corev1.ResourceName(name)]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}
