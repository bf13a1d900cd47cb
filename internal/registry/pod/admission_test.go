package pod

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// admission returns an Admission over the given service accounts of
// namespace "ns", counting live reads.
func admission(sas ...*corev1.ServiceAccount) (*Admission, *int) {
	live := 0
	return &Admission{
		ServiceAccounts: func(_ context.Context, ns, name string, isLive bool) (*corev1.ServiceAccount, error) {
			if isLive {
				live++
			}
			for _, sa := range sas {
				if sa.Namespace == ns && sa.Name == name {
					return sa, nil
				}
			}
			return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
		},
		Sleep: func(context.Context, time.Duration) error { return nil },
	}, &live
}

func sa(name string, mutate ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func newPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}},
	}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestAdmission_DefaultServiceAccountAndTokenVolume(t *testing.T) {
	a, _ := admission(sa("default", func(s *corev1.ServiceAccount) {
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
	}))
	p := newPod()
	if err := a.AdmitCreate(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.ServiceAccountName != "default" || p.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q / %q", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
	}
	if len(p.Spec.Volumes) != 1 || !strings.HasPrefix(p.Spec.Volumes[0].Name, "kube-api-access-") || len(p.Spec.Volumes[0].Name) != len("kube-api-access-")+5 {
		t.Fatalf("volumes %+v", p.Spec.Volumes)
	}
	if !apiequality.Semantic.DeepEqual(p.Spec.Volumes[0].Projected, TokenVolumeSource()) {
		t.Errorf("projection %+v", p.Spec.Volumes[0].Projected)
	}
	want := corev1.VolumeMount{Name: p.Spec.Volumes[0].Name, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if len(c.VolumeMounts) != 1 || !apiequality.Semantic.DeepEqual(c.VolumeMounts[0], want) {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "registry" {
		t.Errorf("imagePullSecrets %+v", p.Spec.ImagePullSecrets)
	}
	if *p.Spec.Priority != 0 || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("priority %d %s", *p.Spec.Priority, *p.Spec.PreemptionPolicy)
	}
	if len(p.Spec.Tolerations) != 2 || p.Spec.Tolerations[0].Key != corev1.TaintNodeNotReady || p.Spec.Tolerations[1].Key != corev1.TaintNodeUnreachable ||
		*p.Spec.Tolerations[1].TolerationSeconds != 300 || p.Spec.Tolerations[1].Effect != corev1.TaintEffectNoExecute {
		t.Errorf("tolerations %+v", p.Spec.Tolerations)
	}
}

func TestAdmission_NoAutomount(t *testing.T) {
	no := false
	for name, tc := range map[string]struct {
		sa  *corev1.ServiceAccount
		pod *corev1.Pod
	}{
		"service account opts out": {sa("default", func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = &no }), newPod()},
		"pod opts out":             {sa("default"), newPod(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = &no })},
		"every container mounts something there": {sa("default"), newPod(func(p *corev1.Pod) {
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					cs[i].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: TokenMountPath}}
				}
			}
		})},
	} {
		t.Run(name, func(t *testing.T) {
			a, _ := admission(tc.sa)
			if err := a.AdmitCreate(context.Background(), tc.pod); err != nil {
				t.Fatal(err)
			}
			if len(tc.pod.Spec.Volumes) != 0 {
				t.Errorf("volumes %+v", tc.pod.Spec.Volumes)
			}
		})
	}
	// The pod's own choice wins over the service account's.
	yes := true
	a, _ := admission(sa("default", func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = &no }))
	p := newPod(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = &yes })
	if err := a.AdmitCreate(context.Background(), p); err != nil || len(p.Spec.Volumes) != 1 {
		t.Errorf("pod says yes: err %v, volumes %+v", err, p.Spec.Volumes)
	}
}

func TestAdmission_MissingServiceAccount(t *testing.T) {
	a, live := admission()
	err := a.AdmitCreate(context.Background(), newPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" }))
	if !apierrors.IsForbidden(err) || err.Error() != `pods "p" is forbidden: error looking up service account ns/builder: serviceaccount "builder" not found` {
		t.Errorf("err %v", err)
	}
	if *live != 1 {
		t.Errorf("%d live reads for a named service account, want 1", *live)
	}
	*live = 0
	if err := a.AdmitCreate(context.Background(), newPod()); !apierrors.IsForbidden(err) {
		t.Errorf("err %v", err)
	}
	if *live != 10 {
		t.Errorf("%d live reads for default, want 10 (the controller may be about to create it)", *live)
	}
}

func TestAdmission_PriorityAndTolerations(t *testing.T) {
	a, _ := admission(sa("default"))
	p := newPod(func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" })
	if err := a.AdmitCreate(context.Background(), p); err != nil || *p.Spec.Priority != 2000001000 {
		t.Errorf("system-node-critical: err %v priority %v", err, p.Spec.Priority)
	}
	for name, tc := range map[string]struct {
		mutate func(*corev1.Pod)
		want   string
	}{
		"unknown class": {func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" }, `pods "p" is forbidden: no PriorityClass with name high was found`},
		"priority given": {func(p *corev1.Pod) { p.Spec.Priority = new(int32(5)) },
			`pods "p" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
	} {
		if err := a.AdmitCreate(context.Background(), newPod(tc.mutate)); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A toleration with an empty key tolerates both taints already.
	p = newPod(func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} })
	if err := a.AdmitCreate(context.Background(), p); err != nil || len(p.Spec.Tolerations) != 1 {
		t.Errorf("tolerate-all pod: err %v tolerations %+v", err, p.Spec.Tolerations)
	}
	p = newPod(func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
	})
	if err := a.AdmitCreate(context.Background(), p); err != nil || len(p.Spec.Tolerations) != 2 || p.Spec.Tolerations[1].Key != corev1.TaintNodeNotReady {
		t.Errorf("unreachable-tolerating pod: err %v tolerations %+v", err, p.Spec.Tolerations)
	}
}
