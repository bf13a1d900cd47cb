// Package jobs tests Skiff's Job controller, node agent and runtimes against
// the real server started in-process: one test per upstream
// `[sig-apps] Job [Conformance]` spec (kubernetes test/e2e/apps/job.go),
// driven as the upstream e2e framework drives it, and one per Job feature.
//
// Each top-level test starts one server and runs its cases as parallel
// subtests in their own namespaces, as the e2e framework gives each spec
// its own namespace.
package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

const (
	// jobTimeout bounds every wait on a Job or its pods (upstream's
	// JobTimeout is 15 minutes; ours are much faster).
	jobTimeout = 2 * time.Minute
	// poll is the polling interval (upstream's framework.Poll is 2 s).
	poll = 50 * time.Millisecond
	// runID labels every namespace as the e2e framework's e2e-run label does.
	runID = "skiff-test-jobs"
)

// cluster is one running server as the e2e framework sees it.
type cluster struct {
	ts  *testserver.Server
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

// startCluster starts a server with the given runtime and runs the checks
// the e2e suite makes before any spec (setupSuite): nodes schedulable,
// system pods listable, server version.
func startCluster(t *testing.T, runtime string) *cluster {
	t.Helper()
	ts := testserver.Start(t, testserver.Options{Runtime: runtime})
	cfg := rest.CopyConfig(ts.Config)
	// The e2e framework's client: protobuf, QPS 20, burst 50.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = 20, 50
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	c := &cluster{ts: ts, cs: cs, dyn: dyn}
	c.setupSuite(t)
	return c
}

func (c *cluster) setupSuite(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	if _, err := c.cs.Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version: %v", err)
	}
	// e2enode.WaitForAllNodesSchedulable lists with resourceVersion "0".
	pollUntil(t, jobTimeout, "all nodes schedulable", func() (bool, error) {
		nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		for i := range nodes.Items {
			if !isNodeSchedulable(&nodes.Items[i]) || !isNodeUntainted(&nodes.Items[i]) {
				return false, nil
			}
		}
		return len(nodes.Items) > 0, nil
	})
	if _, err := getReadySchedulableNodes(ctx, c.cs); err != nil {
		t.Fatalf("ready schedulable nodes: %v", err)
	}
	// e2epod.WaitForAlmostAllPodsReady lists the system pods.
	if _, err := c.cs.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("listing kube-system pods: %v", err)
	}
}

// framework is one spec's view: a fresh namespace and the clients.
type framework struct {
	t   *testing.T
	ctx context.Context
	cs  kubernetes.Interface
	dyn dynamic.Interface
	ns  string
}

// newFramework does what framework.NewDefaultFramework("job") does before
// each spec: a namespace named base-NNNN with the e2e labels and the
// privileged PodSecurity level, then waits for its default ServiceAccount
// and its kube-root-ca.crt ConfigMap.
// On failure it dumps the namespace's events; at the end it deletes the
// namespace.
func (c *cluster) newFramework(t *testing.T, base string) *framework {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*jobTimeout)
	t.Cleanup(cancel)
	f := &framework{t: t, ctx: ctx, cs: c.cs, dyn: c.dyn}
	labels := map[string]string{
		"e2e-run":                            runID,
		"e2e-framework":                      base,
		"pod-security.kubernetes.io/enforce": "privileged",
		"pod-security.kubernetes.io/warn":    "privileged",
	}
	var ns *corev1.Namespace
	pollUntil(t, 30*time.Second, "creating the test namespace", func() (bool, error) {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: base + "-" + strconv.Itoa(rand.IntN(10000)), Labels: labels}}
		var err error
		ns, err = c.cs.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return err == nil, err
	})
	f.ns = ns.Name
	t.Cleanup(func() {
		if t.Failed() {
			f.dumpEvents()
		}
		if err := c.cs.CoreV1().Namespaces().Delete(context.Background(), f.ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting namespace %s: %v", f.ns, err)
		}
	})
	f.waitForDefaultServiceAccount()
	f.waitForKubeRootCA()
	return f
}

// waitForDefaultServiceAccount and waitForKubeRootCA watch as the
// framework's WaitForDefaultServiceAccountInNamespace and
// WaitForKubeRootCAInNamespace do before every spec.
func (f *framework) waitForDefaultServiceAccount() {
	f.t.Helper()
	sas := f.cs.CoreV1().ServiceAccounts(f.ns)
	f.waitForNamed("default", "the default ServiceAccount", &corev1.ServiceAccount{},
		func(o metav1.ListOptions) (runtime.Object, error) { return sas.List(f.ctx, o) },
		func(o metav1.ListOptions) (watch.Interface, error) { return sas.Watch(f.ctx, o) })
}

func (f *framework) waitForKubeRootCA() {
	f.t.Helper()
	cms := f.cs.CoreV1().ConfigMaps(f.ns)
	f.waitForNamed("kube-root-ca.crt", "the kube-root-ca.crt ConfigMap", &corev1.ConfigMap{},
		func(o metav1.ListOptions) (runtime.Object, error) { return cms.List(f.ctx, o) },
		func(o metav1.ListOptions) (watch.Interface, error) { return cms.Watch(f.ctx, o) })
}

// waitForNamed lists and watches, with a metadata.name field selector,
// until the object exists.
func (f *framework) waitForNamed(name, what string, obj runtime.Object,
	list func(metav1.ListOptions) (runtime.Object, error), watchFn func(metav1.ListOptions) (watch.Interface, error)) {
	f.t.Helper()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListFunc:  func(o metav1.ListOptions) (runtime.Object, error) { o.FieldSelector = sel; return list(o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) { o.FieldSelector = sel; return watchFn(o) },
	}
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Added || ev.Type == watch.Modified, nil
	})
	if err != nil {
		f.t.Fatalf("waiting for %s in %s: %v", what, f.ns, err)
	}
}

// dumpEvents logs the namespace's events, as the framework does after a
// failed spec.
func (f *framework) dumpEvents() {
	evs, err := f.cs.CoreV1().Events(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Logf("listing events in %s: %v", f.ns, err)
		return
	}
	for _, e := range evs.Items {
		f.t.Logf("event %s %s/%s: %s %s: %s", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Source.Component, e.Reason, e.Message)
	}
}

// pollUntil calls fn every poll until it returns true; an error from fn or
// the deadline fails the test.
func pollUntil(t testing.TB, timeout time.Duration, what string, fn func() (bool, error)) {
	t.Helper()
	if err := pollErr(timeout, fn); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// pollErr is pollUntil returning the error instead of failing.
func pollErr(timeout time.Duration, fn func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := fn()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not met within %s", timeout)
		}
		time.Sleep(poll)
	}
}
