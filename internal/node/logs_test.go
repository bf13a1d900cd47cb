package node_test

import (
	"bufio"
	"context"
	"github.com/skiff-sh/skiff/internal/node"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

func TestLogHandler_ServeSubresource_Params(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	e.create(t, testPod("lines", corev1.RestartPolicyNever, shC("main", "for i in 1 2 3 4 5; do echo line$i; done")))
	two := testPod("two", corev1.RestartPolicyNever, shC("a", "echo a"), shC("b", "echo b"))
	two.Spec.InitContainers = []corev1.Container{shC("i", "echo i")}
	e.create(t, two)
	e.waitPod(t, "lines", 30*time.Second, phaseIs(corev1.PodSucceeded))
	e.waitPod(t, "two", 30*time.Second, phaseIs(corev1.PodSucceeded))

	base := "/api/v1/namespaces/default/pods/"
	tests := map[string]struct {
		path     string
		wantCode int
		want     string // body, or a substring for errors
	}{
		"whole log":                  {base + "lines/log", 200, "line1\nline2\nline3\nline4\nline5\n"},
		"tailLines":                  {base + "lines/log?tailLines=2", 200, "line4\nline5\n"},
		"tailLines zero":             {base + "lines/log?tailLines=0", 200, ""},
		"limitBytes":                 {base + "lines/log?limitBytes=8", 200, "line1\nli"},
		"sinceTime in the future":    {base + "lines/log?sinceTime=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), 200, ""},
		"sinceSeconds":               {base + "lines/log?sinceSeconds=3600", 200, "line1\nline2\nline3\nline4\nline5\n"},
		"named container":            {base + "two/log?container=b", 200, "b\n"},
		"init container":             {base + "two/log?container=i", 200, "i\n"},
		"container must be given":    {base + "two/log", 400, "a container name must be specified for pod two, choose one of: [a b] or one of the init containers: [i]"},
		"unknown container":          {base + "two/log?container=zz", 400, "container zz is not valid for pod two"},
		"no previous":                {base + "lines/log?previous=true", 400, `previous terminated container \"main\" in pod \"lines\" not found`},
		"negative tailLines":         {base + "lines/log?tailLines=-1", 422, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		"zero limitBytes":            {base + "lines/log?limitBytes=0", 422, "limitBytes: Invalid value: 0: must be greater than 0"},
		"sinceSeconds and sinceTime": {base + "lines/log?sinceSeconds=1&sinceTime=2020-01-01T00:00:00Z", 422, "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		"bad integer":                {base + "lines/log?tailLines=x", 400, `strconv.ParseInt: parsing \"x\": invalid syntax`},
		"missing pod":                {base + "nope/log", 404, `pods \"nope\" not found`},
	}
	for name, tc := range tests {
		code, body := e.rawGet(t, tc.path)
		if code != tc.wantCode {
			t.Errorf("%s: code %d, want %d (%s)", name, code, tc.wantCode, body)
			continue
		}
		if code == 200 {
			if diff := cmp.Diff(tc.want, body); diff != "" {
				t.Errorf("%s: body (-want +got):\n%s", name, diff)
			}
		} else if !strings.Contains(body, tc.want) {
			t.Errorf("%s: body %s does not contain %q", name, body, tc.want)
		}
	}
	code, body := e.rawGet(t, base+"lines/log?timestamps=true&tailLines=1")
	ts, rest, _ := strings.Cut(body, " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); code != 200 || err != nil || rest != "line5\n" {
		t.Errorf("timestamps: %d %q", code, body)
	}
}

func TestLogHandler_ServeSubresource_Follow(t *testing.T) {
	t.Parallel()
	e := newProcessEnv(t)
	e.create(t, testPod("follow", corev1.RestartPolicyNever, shC("main", "echo first; sleep 1; echo second")))
	e.waitPod(t, "follow", 30*time.Second, phaseIs(corev1.PodRunning, corev1.PodSucceeded))
	c, err := kubernetes.NewForConfig(e.proxyConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := c.CoreV1().Pods(e.ns).GetLogs("follow", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	defer stream.Close()
	var lines []string
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if diff := cmp.Diff([]string{"first", "second"}, lines); diff != "" {
		t.Errorf("followed lines (-want +got):\n%s", diff)
	}
}

func TestLogContainerID_States(t *testing.T) {
	t.Parallel()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	termWith := func(id string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: id}}
	}
	tests := map[string]struct {
		cs       corev1.ContainerStatus
		previous bool
		want     crt.ContainerID
		wantErr  string
	}{
		"running":              {corev1.ContainerStatus{Name: "c", ContainerID: "skiff://u_c_1", State: running}, false, "u_c_1", ""},
		"terminated":           {corev1.ContainerStatus{Name: "c", State: termWith("skiff://u_c_0")}, false, "u_c_0", ""},
		"crash loop uses last": {corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: termWith("skiff://u_c_2")}, false, "u_c_2", ""},
		"previous":             {corev1.ContainerStatus{Name: "c", State: running, LastTerminationState: termWith("skiff://u_c_0")}, true, "u_c_0", ""},
		"no previous":          {corev1.ContainerStatus{Name: "c", State: running}, true, "", `previous terminated container "c" in pod "p" not found`},
		"waiting":              {corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}, false, "", `container "c" in pod "p" is waiting to start: ContainerCreating`},
		"unknown state":        {corev1.ContainerStatus{Name: "c"}, false, "", `container "c" in pod "p" is waiting to start - no logs yet`},
		"not in status":        {corev1.ContainerStatus{Name: "other"}, false, "", `container "c" in pod "p" is not available`},
	}
	for name, tc := range tests {
		got, err := node.LogContainerID("p", &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.cs}}, "c", tc.previous)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if got != tc.want || errText != tc.wantErr {
			t.Errorf("%s: got %q, %q; want %q, %q", name, got, errText, tc.want, tc.wantErr)
		}
	}
}

func TestParseLogOptions_Query(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("container=c&follow=&previous=false&timestamps=1&tailLines=3&limitBytes=10&sinceSeconds=5")
	got, err := node.ParseLogOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.PodLogOptions{Container: "c", Follow: true, Timestamps: true,
		TailLines: ptr.To(int64(3)), LimitBytes: ptr.To(int64(10)), SinceSeconds: ptr.To(int64(5))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
