package pod

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validPod returns a defaulted pod that passes validation.
func validPod() *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox:1.36", Command: []string{"true"}}},
		},
	}
	SetDefaults(pod)
	return pod
}

func aggregate(errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	return errs.ToAggregate().Error()
}

const dnsLabelMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

func TestValidatePodSpec_Rules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*corev1.PodSpec)
		want   string
	}{
		"valid spec": {mutate: func(*corev1.PodSpec) {}, want: ""},
		"shared process namespace and the host's": {
			mutate: func(s *corev1.PodSpec) { s.HostPID, s.ShareProcessNamespace = true, ptrTo(true) },
			want:   "spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled",
		},
		"no containers": {
			mutate: func(s *corev1.PodSpec) { s.Containers = nil },
			want:   "spec.containers: Required value",
		},
		"container name missing": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].Name = "" },
			want:   "spec.containers[0].name: Required value",
		},
		"container name not a DNS label": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].Name = "Main_1" },
			want:   `spec.containers[0].name: Invalid value: "Main_1": ` + dnsLabelMsg,
		},
		"duplicate container names": {
			mutate: func(s *corev1.PodSpec) { s.Containers = append(s.Containers, s.Containers[0]) },
			want:   `spec.containers[1].name: Duplicate value: "main"`,
		},
		"init container name clashes with container": {
			mutate: func(s *corev1.PodSpec) { s.InitContainers = []corev1.Container{s.Containers[0]} },
			want:   `spec.initContainers[0].name: Duplicate value: "main"`,
		},
		"image missing": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].Image = "" },
			want:   "spec.containers[0].image: Required value",
		},
		"restart policy unsupported": {
			mutate: func(s *corev1.PodSpec) { s.RestartPolicy = "Sometimes" },
			want:   `spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
		},
		"dns policy unsupported": {
			mutate: func(s *corev1.PodSpec) { s.DNSPolicy = "Google" },
			want:   `spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`,
		},
		"dns policy None without config": {
			mutate: func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSNone },
			want:   "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
		},
		"termination grace period missing": {
			mutate: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = nil },
			want:   "spec.terminationGracePeriodSeconds: Required value",
		},
		"negative termination grace period is accepted": {
			mutate: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptrTo(int64(-1)) },
			want:   "",
		},
		"active deadline zero": {
			mutate: func(s *corev1.PodSpec) { s.ActiveDeadlineSeconds = ptrTo(int64(0)) },
			want:   "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
		},
		"node selector bad value": {
			mutate: func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd!"} },
			want:   `spec.nodeSelector: Invalid value: "ssd!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		},
		"hostname not a DNS label": {
			mutate: func(s *corev1.PodSpec) { s.Hostname = "Web.1" },
			want:   `spec.hostname: Invalid value: "Web.1": ` + dnsLabelMsg,
		},
		"subdomain not a DNS label": {
			mutate: func(s *corev1.PodSpec) { s.Subdomain = "a.b" },
			want:   `spec.subdomain: Invalid value: "a.b": must not contain dots`,
		},
		"service account name invalid": {
			mutate: func(s *corev1.PodSpec) { s.ServiceAccountName = "Bad_SA" },
			want:   `spec.serviceAccountName: Invalid value: "Bad_SA": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
		"negative runAsUser": {
			mutate: func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptrTo(int64(-1)) },
			want:   "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
		},
		"container negative runAsUser": {
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptrTo(int64(-2))}
			},
			want: "spec.containers[0].securityContext.runAsUser: Invalid value: -2: must be between 0 and 2147483647, inclusive",
		},
		"pull policy unsupported": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].ImagePullPolicy = "Sometimes" },
			want:   `spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`,
		},
		"termination message policy unsupported": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].TerminationMessagePolicy = "Stdout" },
			want:   `spec.containers[0].terminationMessagePolicy: Unsupported value: "Stdout": supported values: "File", "FallbackToLogsOnError"`,
		},
		"container restartPolicy on a regular container": {
			mutate: func(s *corev1.PodSpec) { s.Containers[0].RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways) },
			want:   "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
		},
		"init container restartPolicy Never": {
			mutate: func(s *corev1.PodSpec) {
				c := s.Containers[0]
				c.Name = "init"
				c.RestartPolicy = ptrTo(corev1.ContainerRestartPolicy("Never"))
				s.InitContainers = []corev1.Container{c}
			},
			want: `spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"`,
		},
		"init container probe without restartPolicy Always": {
			mutate: func(s *corev1.PodSpec) {
				c := s.Containers[0]
				c.Name = "init"
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
				s.InitContainers = []corev1.Container{c}
			},
			want: "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := validPod()
			tc.mutate(&pod.Spec)
			got := aggregate(ValidatePodSpec(&pod.Spec, nil, field.NewPath("spec")))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidatePodSpec_ContainerFields(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*corev1.Container)
		want   string
	}{
		"port missing": {
			mutate: func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}} },
			want:   "spec.containers[0].ports[0].containerPort: Required value",
		},
		"port out of range": {
			mutate: func(c *corev1.Container) {
				c.Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
			},
			want: "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
		},
		"port protocol unsupported": {
			mutate: func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "ICMP"}} },
			want:   `spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`,
		},
		"duplicate port names": {
			mutate: func(c *corev1.Container) {
				c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "http", ContainerPort: 81, Protocol: "TCP"}}
			},
			want: `spec.containers[0].ports[1].name: Duplicate value: "http"`,
		},
		"env name empty": {
			mutate: func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Value: "x"}} },
			want:   "spec.containers[0].env[0].name: Required value",
		},
		"env name with equals sign": {
			mutate: func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "A=B"}} },
			want:   `spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
		},
		"env valueFrom with value": {
			mutate: func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
			},
			want: "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
		},
		"env fieldRef unsupported path": {
			mutate: func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.foo"}}}}
			},
			want: `spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": error converting fieldPath: field label not supported: spec.foo`,
		},
		"env fieldRef path not allowed for env": {
			mutate: func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}}}}
			},
			want: `spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`,
		},
		"envFrom without source": {
			mutate: func(c *corev1.Container) { c.EnvFrom = []corev1.EnvFromSource{{}} },
			want:   "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
		},
		"volume mount of unknown volume": {
			mutate: func(c *corev1.Container) { c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}} },
			want:   `spec.containers[0].volumeMounts[0].name: Not found: "data"`,
		},
		"request above limit": {
			mutate: func(c *corev1.Container) {
				c.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				}
			},
			want: `spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`,
		},
		"negative memory request": {
			mutate: func(c *corev1.Container) {
				c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}}
			},
			want: `spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0`,
		},
		"unknown resource name": {
			mutate: func(c *corev1.Container) {
				c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"gpu": resource.MustParse("1")}}
			},
			want: `[spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified, spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers]`,
		},
		"liveness probe without handler": {
			mutate: func(c *corev1.Container) {
				c.LivenessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			},
			want: "spec.containers[0].livenessProbe: Required value: must specify a handler type",
		},
		"liveness probe success threshold": {
			mutate: func(c *corev1.Container) {
				c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
			},
			want: "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := validPod()
			tc.mutate(&pod.Spec.Containers[0])
			got := aggregate(ValidatePodSpec(&pod.Spec, nil, field.NewPath("spec")))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidatePodSpec_Volumes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		volumes []corev1.Volume
		want    string
	}{
		"no source": {
			volumes: []corev1.Volume{{Name: "v"}},
			want:    "spec.volumes[0]: Required value: must specify a volume type",
		},
		"two sources": {
			volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}},
			want:    "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
		},
		"name missing": {
			volumes: []corev1.Volume{{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			want:    "spec.volumes[0].name: Required value",
		},
		"duplicate names": {
			volumes: []corev1.Volume{
				{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			want: `spec.volumes[1].name: Duplicate value: "v"`,
		},
		"hostPath without path": {
			volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}},
			want:    "spec.volumes[0].hostPath.path: Required value",
		},
		"configMap without name": {
			volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
			want:    "spec.volumes[0].configMap.name: Required value",
		},
		"secret bad default mode": {
			volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptrTo(int32(01000))}}}},
			want:    "spec.volumes[0].secret.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive",
		},
		"item path with backsteps": {
			volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "../x"}}}}}},
			want: `spec.volumes[0].configMap.items[0].path: Invalid value: "../x": must not contain '..'`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := validPod()
			pod.Spec.Volumes = tc.volumes
			got := aggregate(ValidatePodSpec(&pod.Spec, nil, field.NewPath("spec")))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidatePodSpec_VolumeMounts(t *testing.T) {
	t.Parallel()
	pod := validPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d"}, {Name: "data", MountPath: "/d"}, {Name: "data"}}
	want := `[spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique, spec.containers[0].volumeMounts[2].mountPath: Required value]`
	if diff := cmp.Diff(want, aggregate(ValidatePodSpec(&pod.Spec, nil, field.NewPath("spec")))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestValidatePodTemplateSpec_Rules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*corev1.PodTemplateSpec)
		want   string
	}{
		"valid template": {mutate: func(*corev1.PodTemplateSpec) {}, want: ""},
		"bad label": {
			mutate: func(tp *corev1.PodTemplateSpec) { tp.Labels = map[string]string{"a": "b c"} },
			want:   `spec.template.labels: Invalid value: "b c": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		},
		"ephemeral containers": {
			mutate: func(tp *corev1.PodTemplateSpec) {
				tp.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox",
					TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}}}
			},
			want: "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template",
		},
		"missing containers": {
			mutate: func(tp *corev1.PodTemplateSpec) { tp.Spec.Containers = nil },
			want:   "spec.template.spec.containers: Required value",
		},
		"hostNetwork with unset host port is fine in a template": {
			mutate: func(tp *corev1.PodTemplateSpec) {
				tp.Spec.HostNetwork = true
				tp.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}
			},
			want: "",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl := &corev1.PodTemplateSpec{Spec: validPod().Spec}
			tmpl.Spec.EnableServiceLinks = nil
			tc.mutate(tmpl)
			got := aggregate(ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
