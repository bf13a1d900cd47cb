package pod

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptrTo[T any](v T) *T { return &v }

// defaultedContainer is what defaulting makes of {name, image}.
func defaultedContainer(name, image string, pull corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name: name, Image: image, ImagePullPolicy: pull,
		TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

func TestSetDefaults_Pod_MinimalPod(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	SetDefaults(pod)
	want := &corev1.Pod{Spec: corev1.PodSpec{
		Containers:                    []corev1.Container{defaultedContainer("c", "busybox", corev1.PullAlways)},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 "default-scheduler",
		TerminationGracePeriodSeconds: ptrTo(int64(30)),
		SecurityContext:               &corev1.PodSecurityContext{},
		EnableServiceLinks:            ptrTo(true),
	}}
	if diff := cmp.Diff(want, pod); diff != "" {
		t.Errorf("SetDefaults mismatch (-want +got):\n%s", diff)
	}
	again := pod.DeepCopy()
	SetDefaults(again)
	if diff := cmp.Diff(pod, again); diff != "" {
		t.Errorf("SetDefaults is not idempotent (-first +second):\n%s", diff)
	}
}

func TestSetDefaultsPodTemplateSpec_NoPodOnlyDefaults(t *testing.T) {
	t.Parallel()
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "perl:5.34",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}}}
	SetDefaultsPodTemplateSpec(tmpl)
	if tmpl.Spec.EnableServiceLinks != nil {
		t.Errorf("enableServiceLinks = %v, want nil on a template", *tmpl.Spec.EnableServiceLinks)
	}
	if tmpl.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("requests = %v, want nil on a template", tmpl.Spec.Containers[0].Resources.Requests)
	}
	if got := tmpl.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy = %q, want IfNotPresent", got)
	}
}

func TestSetDefaultsPodSpec_ImagePullPolicy(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		image string
		want  corev1.PullPolicy
	}{
		"no tag means latest":          {"busybox", corev1.PullAlways},
		"explicit latest":              {"docker.io/library/busybox:latest", corev1.PullAlways},
		"a tag":                        {"perl:5.34.0", corev1.PullIfNotPresent},
		"a digest":                     {"busybox@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		"registry with port, no tag":   {"localhost:5000/app", corev1.PullAlways},
		"unparsable reference":         {"Not A Valid Image", corev1.PullIfNotPresent},
		"empty image":                  {"", corev1.PullIfNotPresent},
		"explicit policy is preserved": {"busybox", corev1.PullNever},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := corev1.Container{Name: "c", Image: tc.image}
			if name == "explicit policy is preserved" {
				c.ImagePullPolicy = corev1.PullNever
			}
			spec := &corev1.PodSpec{Containers: []corev1.Container{c}}
			SetDefaultsPodSpec(spec)
			if got := spec.Containers[0].ImagePullPolicy; got != tc.want {
				t.Errorf("imagePullPolicy = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetDefaults_Pod_NestedTypes(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork:                   true,
		TerminationGracePeriodSeconds: ptrTo(int64(-5)),
		DeprecatedServiceAccount:      "builder",
		Volumes: []corev1.Volume{
			{Name: "empty"},
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}},
			{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
		},
		Containers: []corev1.Container{{
			Name: "c", Image: "app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Env:   []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
		}},
	}}
	SetDefaults(pod)
	spec := pod.Spec
	c := spec.Containers[0]
	checks := map[string]struct{ got, want any }{
		"emptyDir source":             {spec.Volumes[0].EmptyDir != nil, true},
		"configMap defaultMode":       {*spec.Volumes[1].ConfigMap.DefaultMode, int32(0644)},
		"secret defaultMode":          {*spec.Volumes[2].Secret.DefaultMode, int32(0644)},
		"hostPath type":               {*spec.Volumes[3].HostPath.Type, corev1.HostPathUnset},
		"downwardAPI defaultMode":     {*spec.Volumes[4].DownwardAPI.DefaultMode, int32(0644)},
		"downwardAPI fieldRef v1":     {spec.Volumes[4].DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		"projected defaultMode":       {*spec.Volumes[5].Projected.DefaultMode, int32(0644)},
		"token expiration":            {*spec.Volumes[5].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, int64(3600)},
		"port protocol":               {c.Ports[0].Protocol, corev1.ProtocolTCP},
		"host network host port":      {c.Ports[0].HostPort, int32(8080)},
		"env fieldRef apiVersion":     {c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		"request kept":                {c.Resources.Requests.Cpu().String(), "100m"},
		"request from limit":          {c.Resources.Requests.Memory().String(), "64Mi"},
		"probe timeout":               {c.LivenessProbe.TimeoutSeconds, int32(1)},
		"probe period":                {c.LivenessProbe.PeriodSeconds, int32(10)},
		"probe success":               {c.LivenessProbe.SuccessThreshold, int32(1)},
		"probe failure":               {c.LivenessProbe.FailureThreshold, int32(3)},
		"httpGet path":                {c.LivenessProbe.HTTPGet.Path, "/"},
		"httpGet scheme":              {c.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		"negative grace kept":         {*spec.TerminationGracePeriodSeconds, int64(-5)},
		"serviceAccountName from old": {spec.ServiceAccountName, "builder"},
		"serviceAccount mirrored":     {spec.DeprecatedServiceAccount, "builder"},
	}
	for name, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestSetDefaults_Pod_StatusIPs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want corev1.PodStatus
	}{
		"podIP fills podIPs": {
			in:   corev1.PodStatus{PodIP: "10.0.0.1", HostIP: "192.168.0.1"},
			want: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}, HostIP: "192.168.0.1", HostIPs: []corev1.HostIP{{IP: "192.168.0.1"}}},
		},
		"podIPs fills podIP": {
			in:   corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}},
			want: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}},
		},
		"differing podIP wins": {
			in:   corev1.PodStatus{PodIP: "10.0.0.2", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}},
			want: corev1.PodStatus{PodIP: "10.0.0.2", PodIPs: []corev1.PodIP{{IP: "10.0.0.2"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: tc.in}
			SetDefaults(pod)
			if diff := cmp.Diff(tc.want, pod.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
