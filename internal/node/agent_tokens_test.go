package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/node"
)

// A pod's token volume holds a token for its service account, bound to the
// pod and renewed once most of its life has passed; the containers get the
// kubelet's service variables.
func TestAgent_Process_ServiceAccountTokenAndServiceEnv(t *testing.T) {
	node.SetTokenRefreshFraction(t, 0.0004) // the volume's 3607 s token renews after 1.4 s
	e := newProcessEnv(t)
	ctx := context.Background()
	if _, err := e.client.CoreV1().Services(e.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-db"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := "/var/run/secrets/kubernetes.io/serviceaccount"
	script := `echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT_443_TCP $MY_DB_SERVICE_HOST:$MY_DB_SERVICE_PORT_PG $MY_DB_PORT_5432_TCP_PROTO X=$X"; ` +
		`cat ` + dir + `/namespace; echo; head -c 27 ` + dir + `/ca.crt; echo; cat ` + dir + `/token; echo; sleep 3; cat ` + dir + `/token; echo`
	c := corev1.Container{Name: "main", Image: "busybox", Command: []string{"sh", "-c", script},
		Env: []corev1.EnvVar{{Name: "X", Value: "$(MY_DB_SERVICE_HOST)"}}}
	pod := testPod("tok", corev1.RestartPolicyNever, c)
	e.create(t, pod)
	got := e.waitPod(t, "tok", 30*time.Second, phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	out := e.logs(t, "tok", &corev1.PodLogOptions{})
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("tok: %s\nlog: %s", describe(got), out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("output:\n%s", out)
	}
	svc, err := e.client.CoreV1().Services(e.ns).Get(ctx, "my-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	// Without an API address configured, the kubernetes Service's own.
	if want := "10.96.0.1:443 tcp://10.96.0.1:443 " + ip + ":5432 tcp X=" + ip; lines[0] != want {
		t.Errorf("service variables %q, want %q", lines[0], want)
	}
	if lines[1] != e.ns || lines[2] != "-----BEGIN CERTIFICATE-----" {
		t.Errorf("namespace %q, ca.crt starts %q", lines[1], lines[2])
	}
	first, second := lines[3], lines[4]
	if strings.Count(first, ".") != 2 || first == second || strings.Count(second, ".") != 2 {
		t.Errorf("token not renewed:\n%s\n%s", first, second)
	}
	// Each token authenticates as the pod's service account, bound to it.
	for _, tok := range []string{first, second} {
		user := whoami(t, e, tok)
		if user.Username != "system:serviceaccount:default:default" || user.Extra["authentication.kubernetes.io/pod-uid"][0] != string(got.UID) {
			t.Errorf("token user %+v", user)
		}
	}

	// enableServiceLinks: false keeps only the kubernetes Service's.
	c.Command = []string{"sh", "-c", `echo "${KUBERNETES_SERVICE_HOST-unset} ${MY_DB_SERVICE_HOST-unset}"`}
	c.Env = nil
	pod = testPod("nolinks", corev1.RestartPolicyNever, c)
	pod.Spec.EnableServiceLinks = ptr.To(false)
	e.create(t, pod)
	e.waitPod(t, "nolinks", 30*time.Second, phaseIs(corev1.PodSucceeded))
	if out := e.logs(t, "nolinks", &corev1.PodLogOptions{}); out != "10.96.0.1 unset\n" {
		t.Errorf("without service links: %q", out)
	}
}

// whoami asks the server who token is.
func whoami(t *testing.T, e *testEnv, token string) authenticationv1.UserInfo {
	t.Helper()
	cfg := rest.AnonymousClientConfig(e.ts.Config)
	cfg.BearerToken = token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("authenticating with the pod's token: %v", err)
	}
	return r.Status.UserInfo
}
