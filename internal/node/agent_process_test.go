package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestAgent_Process_ExitCodeReasonAndLogs(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	e.create(t, testPod("ok", corev1.RestartPolicyNever, shC("main", "echo hello; echo err >&2")))
	e.create(t, testPod("bad", corev1.RestartPolicyNever, shC("main", "echo failing; exit 3")))
	e.create(t, testPod("nocmd", corev1.RestartPolicyNever, corev1.Container{Name: "main", Image: "busybox", Command: []string{"/does/not/exist"}}))
	ok := e.waitPod(t, "ok", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if term := terminated(ok, "main"); ok.Status.Phase != corev1.PodSucceeded || term.Reason != "Completed" || term.ExitCode != 0 ||
		!strings.HasPrefix(term.ContainerID, "skiff://") || term.StartedAt.IsZero() || term.FinishedAt.IsZero() {
		t.Errorf("ok: %s", describe(ok))
	}
	bad := e.waitPod(t, "bad", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if term := terminated(bad, "main"); bad.Status.Phase != corev1.PodFailed || term.Reason != "Error" || term.ExitCode != 3 {
		t.Errorf("bad: %s", describe(bad))
	}
	// The kubelet's conditions of a terminal pod.
	for _, tc := range []struct {
		pod               *corev1.Pod
		ready, initReason string
	}{{ok, "PodCompleted", "PodCompleted"}, {bad, "PodFailed", ""}} {
		ready, ctrs, init := podCondition(tc.pod, corev1.PodReady), podCondition(tc.pod, corev1.ContainersReady), podCondition(tc.pod, corev1.PodInitialized)
		if ready.Status != corev1.ConditionFalse || ready.Reason != tc.ready || ctrs.Reason != tc.ready ||
			init.Status != corev1.ConditionTrue || init.Reason != tc.initReason {
			t.Errorf("%s: Ready %s/%s, ContainersReady %s, Initialized %s/%s; want False/%s and True/%s",
				tc.pod.Name, ready.Status, ready.Reason, ctrs.Reason, init.Status, init.Reason, tc.ready, tc.initReason)
		}
	}
	nocmd := e.waitPod(t, "nocmd", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if term := terminated(nocmd, "main"); nocmd.Status.Phase != corev1.PodFailed || term.Reason != "StartError" || term.ExitCode != 128 || term.Message == "" {
		t.Errorf("nocmd: %s", describe(nocmd))
	}
	if got := e.logs(t, "ok", &corev1.PodLogOptions{}); got != "hello\nerr\n" && got != "err\nhello\n" {
		t.Errorf("logs = %q", got)
	}
	if got := e.logs(t, "bad", &corev1.PodLogOptions{Container: "main"}); got != "failing\n" {
		t.Errorf("logs = %q", got)
	}
}

func TestAgent_Process_RestartOnFailureWithBackoff(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("retry", corev1.RestartPolicyOnFailure,
		shC("main", "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo attempt $n; [ $n -ge 3 ]"))
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	e.create(t, pod)
	sawBackoff := false
	got := e.waitPod(t, "retry", 60*time.Second, func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" && strings.HasPrefix(w.Message, "back-off ") {
				sawBackoff = true
			}
		}
		return p.Status.Phase == corev1.PodSucceeded
	})
	cs := got.Status.ContainerStatuses[0]
	if cs.RestartCount != 2 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("status: %s", describe(got))
	}
	if !sawBackoff {
		t.Errorf("never saw CrashLoopBackOff")
	}
	if out := e.logs(t, "retry", &corev1.PodLogOptions{}); out != "attempt 3\n" {
		t.Errorf("current log = %q", out)
	}
	if out := e.logs(t, "retry", &corev1.PodLogOptions{Previous: true}); out != "attempt 2\n" {
		t.Errorf("previous log = %q", out)
	}
}

func TestAgent_Process_InitContainers(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	pod := testPod("init", corev1.RestartPolicyNever, shC("main", "cat /work/a /work/b"))
	pod.Spec.InitContainers = []corev1.Container{shC("first", "echo one > /work/a"), shC("second", "test -f /work/a && echo two > /work/b")}
	pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	for _, cs := range []*[]corev1.Container{&pod.Spec.InitContainers, &pod.Spec.Containers} {
		for i := range *cs {
			(*cs)[i].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
		}
	}
	e.create(t, pod)
	got := e.waitPod(t, "init", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("init: %s", describe(got))
	}
	if out := e.logs(t, "init", &corev1.PodLogOptions{}); out != "one\ntwo\n" {
		t.Errorf("logs = %q", out)
	}
	// The kubelet's events for each container, on the container's field path.
	for _, want := range []struct{ reason, fieldPath, message string }{
		{"Created", "spec.initContainers{first}", "Created container: first"},
		{"Started", "spec.initContainers{first}", "Started container first"},
		{"Created", "spec.containers{main}", "Created container: main"},
		{"Started", "spec.containers{main}", "Started container main"},
	} {
		ev := pollEvent(t, e, func(ev corev1.Event) bool {
			return ev.InvolvedObject.Name == "init" && ev.Reason == want.reason && ev.InvolvedObject.FieldPath == want.fieldPath
		})
		if ev.Type != corev1.EventTypeNormal || ev.Message != want.message {
			t.Errorf("%s event on %s = %s %q, want Normal %q", want.reason, want.fieldPath, ev.Type, ev.Message, want.message)
		}
	}

	failing := testPod("init-fail", corev1.RestartPolicyNever, shC("main", "echo never"))
	failing.Spec.InitContainers = []corev1.Container{shC("first", "exit 7")}
	e.create(t, failing)
	got = e.waitPod(t, "init-fail", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if term := terminated(got, "first"); got.Status.Phase != corev1.PodFailed || term == nil || term.ExitCode != 7 {
		t.Errorf("init-fail: %s", describe(got))
	}
	if w := got.Status.ContainerStatuses[0].State; w.Running != nil || (w.Terminated != nil && w.Terminated.Reason == "Completed") {
		t.Errorf("main container ran: %s", describe(got))
	}
}

func TestAgent_Process_EnvDownwardAPIAndVolumes(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	ctx := context.Background()
	if _, err := e.client.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"color": "blue", "size": "xl"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data: map[string][]byte{"password": []byte("hunter2")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(t.TempDir(), "made", "by", "agent")
	script := `echo "A=$A B=$B NAME=$NAME NS=$NS NODE=$NODE IP=$IP LBL=$LBL MEM=$MEM CPU=$CPU COLOR=$COLOR PW=$PW CFG_size=$CFG_size OPT=${OPT-unset}"; ` +
		`echo "args: $0 $1"; hostname; cat /cm/color; echo; cat /sec/pw; echo; cat /dw/labels; echo; ls /host && echo hostpath-ok; pwd`
	c := corev1.Container{Name: "main", Image: "busybox", Command: []string{"sh", "-c", script, "$(A)", "$(NAME)-x"},
		WorkingDir: "/cm",
		Env: []corev1.EnvVar{
			{Name: "A", Value: "one"}, {Name: "B", Value: "$(A)-two"},
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "LBL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
			{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k", Optional: ptr.To(true)}}},
		},
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		VolumeMounts: []corev1.VolumeMount{{Name: "cm", MountPath: "/cm"}, {Name: "sec", MountPath: "/sec"}, {Name: "dw", MountPath: "/dw"}, {Name: "host", MountPath: "/host"}},
	}
	pod := testPod("env", corev1.RestartPolicyNever, c)
	pod.Spec.Hostname = "custom-host"
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Items: []corev1.KeyToPath{{Key: "password", Path: "pw"}}}}},
		{Name: "dw", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}}},
	}
	e.create(t, pod)
	got := e.waitPod(t, "env", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	out := e.logs(t, "env", &corev1.PodLogOptions{})
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("env: %s\nlog: %s", describe(got), out)
	}
	want := strings.Join([]string{
		"A=one B=one-two NAME=env NS=default NODE=test-node IP=127.0.0.1 LBL=test MEM=64 CPU=250 COLOR=blue PW=hunter2 CFG_size=xl OPT=unset",
		"args: one env-x", "custom-host", "blue", "hunter2", `app="test"`, "hostpath-ok", "/cm", "",
	}, "\n")
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(hostDir); err != nil || !fi.IsDir() {
		t.Errorf("hostPath DirectoryOrCreate not created: %v", err)
	}
}

func TestAgent_Process_MissingConfigMapAndHostPathType(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	c := shC("main", "echo hi")
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
	e.create(t, testPod("cfgerr", corev1.RestartPolicyNever, c))
	e.waitPod(t, "cfgerr", 30*time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError" &&
			p.Status.ContainerStatuses[0].State.Waiting.Message == `configmap "nope" not found` && p.Status.Phase == corev1.PodPending
	})
	code, body := e.rawGet(t, "/api/v1/namespaces/default/pods/cfgerr/log")
	if code != 400 || !strings.Contains(body, `container \"main\" in pod \"cfgerr\" is waiting to start: CreateContainerConfigError`) {
		t.Errorf("log of waiting container: %d %s", code, body)
	}
	// Creating the ConfigMap unblocks the pod.
	if _, err := e.client.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nope"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "cfgerr", 30*time.Second, phaseIs(corev1.PodSucceeded))

	fileType := corev1.HostPathFile
	hp := testPod("hosttype", corev1.RestartPolicyNever, shC("main", "echo hi"))
	hp.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: t.TempDir(), Type: &fileType}}}}
	hp.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "h", MountPath: "/h"}}
	e.create(t, hp)
	testPollEvent(t, e, "hosttype", "FailedMount", "hostPath type check failed:")
}

func testPollEvent(t *testing.T, e *testEnv, pod, reason, contains string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := e.client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == pod && ev.Reason == reason && strings.Contains(ev.Message, contains) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s containing %q", reason, pod, contains)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
