package integration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/internal/server"
	"github.com/skiff-sh/skiff/internal/testserver"
)

// serveDirEnv makes the test binary act as `skiff serve --data-dir DIR
// --secure-port 0` (see TestMain): the kill -9 test runs the server as a
// child process without building and linking the whole skiff binary
// (about a minute on this machine, with kubectl inside).
const serveDirEnv = "SKIFF_INTEGRATION_SERVE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(serveDirEnv); dir != "" {
		os.Exit(serveForever(dir))
	}
	os.Exit(m.Run())
}

// serveForever runs a server until SIGTERM or SIGINT (SIGKILL in tests).
func serveForever(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := server.Start(ctx, server.Config{DataDir: dir, SecurePort: 0, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	select {
	case <-ctx.Done():
	case err := <-srv.Err():
		fmt.Fprintln(os.Stderr, "serve:", err)
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 1
	}
	return 0
}

// snapshot is what must survive a restart: name → resourceVersion and uid.
type snapshot map[string][2]string

func takeSnapshot(t *testing.T, client kubernetes.Interface) (snapshot, string) {
	t.Helper()
	ctx := testCtx(t)
	out := snapshot{}
	cms, err := client.CoreV1().ConfigMaps("keep").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps: %v", err)
	}
	for _, c := range cms.Items {
		out["cm/"+c.Name] = [2]string{c.ResourceVersion, string(c.UID)}
	}
	jobs, err := client.BatchV1().Jobs("keep").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	for _, j := range jobs.Items {
		out["job/"+j.Name] = [2]string{j.ResourceVersion, string(j.UID)}
	}
	return out, cms.ResourceVersion
}

func seedObjects(t *testing.T, client kubernetes.Interface, n int) {
	t.Helper()
	ctx := testCtx(t)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		cm := cmWithLabels(fmt.Sprintf("cm-%03d", i), map[string]string{"i": fmt.Sprint(i)})
		cm.Data = map[string]string{"v": fmt.Sprint(i)}
		if _, err := client.CoreV1().ConfigMaps("keep").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	j := baseJob("kept")
	j.Spec.Suspend = ptr(true)
	if _, err := client.BatchV1().Jobs("keep").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRestart_Close_ObjectsAndResourceVersionsSurvive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startAPI(t, testserver.Options{DataDir: dir})
	seedObjects(t, ts.Client, 20)
	before, listRV := takeSnapshot(t, ts.Client)
	if err := ts.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	ts2 := startAPI(t, testserver.Options{DataDir: dir})
	after, listRV2 := takeSnapshot(t, ts2.Client)
	if len(after) != len(before) {
		t.Fatalf("%d objects after restart, want %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: rv/uid %v after restart, want %v", k, after[k], v)
		}
	}
	if mustAtoi(t, listRV2) < mustAtoi(t, listRV) {
		t.Errorf("list resourceVersion went back from %s to %s", listRV, listRV2)
	}
	// A watch from the last pre-restart revision continues seamlessly.
	ctx := testCtx(t)
	w, err := ts2.Client.CoreV1().ConfigMaps("keep").Watch(ctx, metav1.ListOptions{ResourceVersion: listRV2})
	if err != nil {
		t.Fatalf("watch from %s: %v", listRV2, err)
	}
	defer w.Stop()
	cm, err := ts2.Client.CoreV1().ConfigMaps("keep").Create(ctx, cmWithLabels("new", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mustAtoi(t, cm.ResourceVersion) <= mustAtoi(t, listRV) {
		t.Errorf("new object rv %s not after the pre-restart %s", cm.ResourceVersion, listRV)
	}
	if s := nextSeen(t, w); s.Type != watch.Added || s.Name != "new" || s.RV != cm.ResourceVersion {
		t.Errorf("event %+v, want ADDED new at %s", s, cm.ResourceVersion)
	}
	// The server identity (CA, token) is reused: the old kubeconfig works.
	if _, err := ts2.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("system namespace after restart: %v", err)
	}
}

// serveProcess is a server running as a child process (the test binary
// re-executed, see TestMain).
type serveProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	client kubernetes.Interface
}

func startServeProcess(t *testing.T, dir string) *serveProcess {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.Remove(kubeconfig); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	p := &serveProcess{stderr: &bytes.Buffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), serveDirEnv+"="+dir)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting skiff serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server output:\n%s", p.stderr)
		}
	})
	ctx := testCtx(t)
	testserver.PollUntil(t, 30*time.Second, func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("server process exited: %v: %s", err, p.stderr)
		default:
		}
		if _, err := os.Stat(kubeconfig); err != nil {
			return false, nil
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return false, nil // partially written
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, err
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || string(body) != "ok" {
			return false, nil
		}
		p.client = client
		return true, nil
	})
	return p
}

func (p *serveProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
}

func TestRestart_Kill9_AcknowledgedWritesSurvive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startServeProcess(t, dir)
	seedObjects(t, p.client, 10)

	// Write continuously from another goroutine and SIGKILL mid-stream;
	// every write the server acknowledged must survive.
	ctx, cancel := context.WithCancel(testCtx(t))
	acked := make(chan [2]string, 10000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(acked)
		for i := 0; ctx.Err() == nil; i++ {
			cm, err := p.client.CoreV1().ConfigMaps("keep").Create(ctx, cmWithLabels(fmt.Sprintf("live-%05d", i), nil), metav1.CreateOptions{})
			if err != nil {
				return
			}
			acked <- [2]string{cm.Name, cm.ResourceVersion}
		}
	}()
	var got [][2]string
	for a := range acked {
		got = append(got, a)
		if len(got) == 50 {
			p.kill9(t)
		}
	}
	cancel()
	<-done
	if len(got) < 50 {
		t.Fatalf("only %d writes before the writer stopped: %s", len(got), p.stderr)
	}

	p2 := startServeProcess(t, dir)
	for _, a := range got {
		cm, err := p2.client.CoreV1().ConfigMaps("keep").Get(testCtx(t), a[0], metav1.GetOptions{})
		if err != nil {
			t.Errorf("acknowledged %s lost after kill -9: %v", a[0], err)
			continue
		}
		if cm.ResourceVersion != a[1] {
			t.Errorf("%s: rv %s after restart, want %s", a[0], cm.ResourceVersion, a[1])
		}
	}
	after, _ := takeSnapshot(t, p2.client)
	for i := 0; i < 10; i++ {
		if _, ok := after[fmt.Sprintf("cm/cm-%03d", i)]; !ok {
			t.Errorf("seeded cm-%03d lost", i)
		}
	}
	if _, ok := after["job/kept"]; !ok {
		t.Errorf("job kept lost")
	}
	// The restarted server keeps working and counts on from where it was.
	last := got[len(got)-1][1]
	cm, err := p2.client.CoreV1().ConfigMaps("keep").Create(testCtx(t), cmWithLabels("after-restart", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mustAtoi(t, cm.ResourceVersion) <= mustAtoi(t, last) {
		t.Errorf("rv %s after restart not beyond the last acknowledged %s", cm.ResourceVersion, last)
	}
}
