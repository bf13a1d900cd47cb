package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// containerSpec resolves a container of the pod into a runtime spec: the
// environment (env sources, downward API), $(VAR) expansion of command and
// args, mounts, hostname, credentials and limits.
func (w *podWorker) containerSpec(ctx context.Context, c *corev1.Container, st *ctrState, vols *podVolumes) (crt.ContainerSpec, error) {
	pod := w.latest()
	env, err := w.resolveEnv(ctx, pod, c)
	if err != nil {
		return crt.ContainerSpec{}, err
	}
	vars := crt.EnvMap(env)
	spec := crt.ContainerSpec{
		PodUID: string(pod.UID), PodNamespace: pod.Namespace, PodName: pod.Name,
		Name: c.Name, Attempt: st.restartCount, Image: c.Image,
		Command: expandAll(c.Command, vars), Args: expandAll(c.Args, vars), Env: env,
		WorkingDir: c.WorkingDir, TerminationMessagePath: c.TerminationMessagePath,
		MemoryLimit: c.Resources.Limits.Memory().Value(), CPULimitMilli: c.Resources.Limits.Cpu().MilliValue(),
		Stdin: c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY, HostPID: pod.Spec.HostPID,
	}
	if w.a.rt.Capabilities().Namespaces || pod.Spec.Hostname != "" {
		spec.Hostname = podHostname(pod)
	}
	setCredentials(&spec, pod, c)
	if spec.PIDNamespaceOf, err = w.pidNamespaceFor(st); err != nil {
		return crt.ContainerSpec{}, err
	}
	if vols.sandbox.Dir != "" {
		for _, vm := range c.VolumeMounts {
			host := vols.paths[vm.Name]
			if host == "" {
				return crt.ContainerSpec{}, fmt.Errorf("volume %q of volumeMount %q is not available", vm.Name, vm.MountPath)
			}
			sub := vm.SubPath
			if vm.SubPathExpr != "" {
				sub = crt.ExpandVars(vm.SubPathExpr, vars)
			}
			spec.Mounts = append(spec.Mounts, crt.Mount{HostPath: host, SubPath: sub, ContainerPath: vm.MountPath, ReadOnly: vm.ReadOnly})
		}
	}
	if !st.init {
		if spec.Fake, err = fakeBehavior(pod); err != nil {
			return crt.ContainerSpec{}, err
		}
	}
	return spec, nil
}

func expandAll(in []string, vars map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, crt.ExpandVars(s, vars))
	}
	return out
}

// podHostname is the kubelet's hostname for a pod: spec.hostname or the pod
// name (cut to 63 characters), as a FQDN with setHostnameAsFQDN.
func podHostname(pod *corev1.Pod) string {
	host := pod.Spec.Hostname
	if host == "" {
		host = pod.Name
		if len(host) > 63 {
			host = strings.TrimRight(host[:63], "-.")
		}
	}
	if pod.Spec.Subdomain != "" && pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN {
		host = fmt.Sprintf("%s.%s.%s.svc.cluster.local", host, pod.Spec.Subdomain, pod.Namespace)
	}
	return host
}

// setCredentials applies runAsUser/runAsGroup (the container's security
// context wins over the pod's) and the pod's supplemental groups.
func setCredentials(spec *crt.ContainerSpec, pod *corev1.Pod, c *corev1.Container) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		spec.RunAsUser, spec.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
		spec.SupplementalGroups = append(spec.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			spec.SupplementalGroups = append(spec.SupplementalGroups, *psc.FSGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			spec.RunAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			spec.RunAsGroup = sc.RunAsGroup
		}
	}
}

// fakeBehavior maps the skiff.dev/fake-* annotations to the fake runtime.
func fakeBehavior(pod *corev1.Pod) (crt.FakeBehavior, error) {
	var fb crt.FakeBehavior
	if v, ok := pod.Annotations[crt.AnnotationFakeDuration]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fb, fmt.Errorf("invalid annotation %s=%q: %w", crt.AnnotationFakeDuration, v, err)
		}
		fb.Duration = d
	}
	if v, ok := pod.Annotations[crt.AnnotationFakeExitCode]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fb, fmt.Errorf("invalid annotation %s=%q: %w", crt.AnnotationFakeExitCode, v, err)
		}
		fb.ExitCode = int32(n)
	}
	if v, ok := pod.Annotations[crt.AnnotationFakeExecExitCode]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fb, fmt.Errorf("invalid annotation %s=%q: %w", crt.AnnotationFakeExecExitCode, v, err)
		}
		fb.ExecExitCode = int32(n)
	}
	return fb, nil
}
