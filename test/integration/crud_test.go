package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// typedClient is the method set client-go's generated typed clients share.
type typedClient[T runtime.Object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// crudCase drives one resource through create, get, list, update, patch,
// its status subresource and delete.
type crudCase[T runtime.Object, L runtime.Object] struct {
	client typedClient[T, L]
	obj    T
	// checkCreated asserts resource-specific defaults on the created object.
	checkCreated func(t *testing.T, obj T)
	// updateStatus, if set, writes a status through /status and returns
	// a check that the stored object carries it.
	updateStatus func(ctx context.Context, obj T) (T, error)
	statusSet    func(obj T) bool
	// notFound is the exact NotFound message after deletion.
	notFound string
	// deleteFinish, if set, completes a deletion the DELETE only started
	// (namespaces: finalize).
	deleteFinish func(t *testing.T, ctx context.Context, obj T)
	deleteOpts   metav1.DeleteOptions
}

func runCRUD[T runtime.Object, L runtime.Object](t *testing.T, c crudCase[T, L]) {
	t.Helper()
	ctx := testCtx(t)
	created, err := c.client.Create(ctx, c.obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	m := metaOf(t, created)
	name := m.GetName()
	if m.GetResourceVersion() == "" || m.GetUID() == "" || m.GetCreationTimestamp().Time.IsZero() {
		t.Errorf("created object lacks resourceVersion, uid or creationTimestamp: %+v", m)
	}
	if c.checkCreated != nil {
		c.checkCreated(t, created)
	}
	if _, err := c.client.Create(ctx, c.obj, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: err = %v, want AlreadyExists", err)
	}

	got, err := c.client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if g := metaOf(t, got); g.GetResourceVersion() != m.GetResourceVersion() || g.GetUID() != m.GetUID() {
		t.Errorf("get: rv/uid %s/%s, want %s/%s", g.GetResourceVersion(), g.GetUID(), m.GetResourceVersion(), m.GetUID())
	}

	list, err := c.client.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !listHas(t, list, name) {
		t.Errorf("list does not contain %s", name)
	}

	upd := got.DeepCopyObject().(T)
	metaOf(t, upd).SetLabels(map[string]string{"crud": "updated"})
	updated, err := c.client.Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	um := metaOf(t, updated)
	if um.GetLabels()["crud"] != "updated" || um.GetResourceVersion() == m.GetResourceVersion() {
		t.Errorf("update: labels %v rv %s (was %s)", um.GetLabels(), um.GetResourceVersion(), m.GetResourceVersion())
	}

	patched, err := c.client.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"crud":"patched"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	pm := metaOf(t, patched)
	if pm.GetAnnotations()["crud"] != "patched" || pm.GetLabels()["crud"] != "updated" {
		t.Errorf("patch: annotations %v labels %v", pm.GetAnnotations(), pm.GetLabels())
	}

	if c.updateStatus != nil {
		withStatus, err := c.updateStatus(ctx, patched)
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if !c.statusSet(withStatus) {
			t.Errorf("status update not applied: %+v", withStatus)
		}
		again, err := c.client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get after status: %v", err)
		}
		if !c.statusSet(again) {
			t.Errorf("stored object lacks the status written through /status")
		}
	}

	if err := c.client.Delete(ctx, name, c.deleteOpts); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if c.deleteFinish != nil {
		cur, err := c.client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get after delete: %v", err)
		}
		c.deleteFinish(t, ctx, cur)
	}
	_, err = c.client.Get(ctx, name, metav1.GetOptions{})
	expectAPIError(t, err, 404, metav1.StatusReasonNotFound, c.notFound)
}

func metaOf(t testing.TB, obj runtime.Object) metav1.Object {
	t.Helper()
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatalf("accessor: %v", err)
	}
	return m
}

func listHas(t testing.TB, list runtime.Object, name string) bool {
	t.Helper()
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatalf("extract list: %v", err)
	}
	for _, it := range items {
		if metaOf(t, it).GetName() == name {
			return true
		}
	}
	return false
}

func TestCRUD_Protobuf_AllResources(t *testing.T) {
	t.Parallel()
	runCRUDSuite(t, startAPI(t, testserver.Options{}))
}

func TestCRUD_JSON_AllResources(t *testing.T) {
	t.Parallel()
	runCRUDSuite(t, startAPI(t, testserver.Options{JSON: true}))
}

// runCRUDSuite runs every resource's CRUD case against ts, in a namespace
// of its own (names are prefixed so suites can share a cluster).
func runCRUDSuite(t *testing.T, ts *testserver.Server) {
	ns := "crud"
	createNamespace(t, ts, ns)
	core, batch, coord := ts.Client.CoreV1(), ts.Client.BatchV1(), ts.Client.CoordinationV1()
	cases := map[string]func(t *testing.T){
		"namespaces": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.Namespace, *corev1.NamespaceList]{
				client: core.Namespaces(), obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crud-ns"}},
				checkCreated: func(t *testing.T, o *corev1.Namespace) {
					if o.Status.Phase != corev1.NamespaceActive || len(o.Spec.Finalizers) != 1 || o.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
						t.Errorf("namespace phase %q finalizers %v, want Active [kubernetes]", o.Status.Phase, o.Spec.Finalizers)
					}
					if o.Labels["kubernetes.io/metadata.name"] != "crud-ns" {
						t.Errorf("labels %v lack kubernetes.io/metadata.name", o.Labels)
					}
				},
				notFound: `namespaces "crud-ns" not found`,
				deleteFinish: func(t *testing.T, ctx context.Context, o *corev1.Namespace) {
					if o.Status.Phase != corev1.NamespaceTerminating || o.DeletionTimestamp == nil {
						t.Errorf("after delete: phase %q deletionTimestamp %v, want Terminating and set", o.Status.Phase, o.DeletionTimestamp)
					}
					o.Spec.Finalizers = nil
					if _, err := core.Namespaces().Finalize(ctx, o, metav1.UpdateOptions{}); err != nil {
						t.Fatalf("finalize: %v", err)
					}
				},
			})
		},
		"pods": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.Pod, *corev1.PodList]{
				client: core.Pods(ns), obj: basePod("crud-pod"),
				checkCreated: func(t *testing.T, p *corev1.Pod) {
					s := p.Spec
					if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst || s.SchedulerName != "default-scheduler" ||
						s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds != 30 || p.Status.Phase != corev1.PodPending {
						t.Errorf("pod defaults: restartPolicy %q dnsPolicy %q scheduler %q grace %v phase %q", s.RestartPolicy, s.DNSPolicy, s.SchedulerName, s.TerminationGracePeriodSeconds, p.Status.Phase)
					}
				},
				updateStatus: func(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
					p.Status.Phase = corev1.PodRunning
					return core.Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				},
				statusSet: func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning },
				notFound:  `pods "crud-pod" not found`,
			})
		},
		"events": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.Event, *corev1.EventList]{
				client: core.Events(ns),
				obj: &corev1.Event{
					ObjectMeta:     metav1.ObjectMeta{Name: "crud-ev"},
					InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p"},
					Reason:         "Test", Message: "hello", Type: corev1.EventTypeNormal, Count: 1,
				},
				notFound: `events "crud-ev" not found`,
			})
		},
		"nodes": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.Node, *corev1.NodeList]{
				client: core.Nodes(), obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "crud-node"}},
				updateStatus: func(ctx context.Context, n *corev1.Node) (*corev1.Node, error) {
					n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
					return core.Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
				},
				statusSet: func(n *corev1.Node) bool {
					return len(n.Status.Conditions) == 1 && n.Status.Conditions[0].Type == corev1.NodeReady
				},
				notFound: `nodes "crud-node" not found`,
			})
		},
		"serviceaccounts": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.ServiceAccount, *corev1.ServiceAccountList]{
				client: core.ServiceAccounts(ns), obj: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "crud-sa"}},
				notFound: `serviceaccounts "crud-sa" not found`,
			})
		},
		"configmaps": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.ConfigMap, *corev1.ConfigMapList]{
				client: core.ConfigMaps(ns), obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "crud-cm"}, Data: map[string]string{"k": "v"}},
				checkCreated: func(t *testing.T, c *corev1.ConfigMap) {
					if c.Data["k"] != "v" {
						t.Errorf("data = %v", c.Data)
					}
				},
				notFound: `configmaps "crud-cm" not found`,
			})
		},
		"secrets": func(t *testing.T) {
			runCRUD(t, crudCase[*corev1.Secret, *corev1.SecretList]{
				client: core.Secrets(ns), obj: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "crud-secret"}, StringData: map[string]string{"k": "v"}},
				checkCreated: func(t *testing.T, s *corev1.Secret) {
					if s.Type != corev1.SecretTypeOpaque || string(s.Data["k"]) != "v" || len(s.StringData) != 0 {
						t.Errorf("secret type %q data %v stringData %v, want Opaque, k=v, no stringData", s.Type, s.Data, s.StringData)
					}
				},
				notFound: `secrets "crud-secret" not found`,
			})
		},
		"jobs": func(t *testing.T) {
			runCRUD(t, crudCase[*batchv1.Job, *batchv1.JobList]{
				client: batch.Jobs(ns), obj: baseJob("crud-job"),
				checkCreated: func(t *testing.T, j *batchv1.Job) {
					s := j.Spec
					if *s.Parallelism != 1 || *s.Completions != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion || *s.Suspend {
						t.Errorf("job defaults: %+v", s)
					}
					if j.Labels["batch.kubernetes.io/job-name"] != "crud-job" || j.Labels["job-name"] != "crud-job" ||
						j.Labels["controller-uid"] != string(j.UID) || j.Labels["batch.kubernetes.io/controller-uid"] != string(j.UID) {
						t.Errorf("job labels %v lack the generated labels", j.Labels)
					}
				},
				updateStatus: func(ctx context.Context, j *batchv1.Job) (*batchv1.Job, error) {
					j.Status.Active = 2
					return batch.Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{})
				},
				statusSet:  func(j *batchv1.Job) bool { return j.Status.Active == 2 },
				notFound:   `jobs.batch "crud-job" not found`,
				deleteOpts: metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)},
			})
		},
		"leases": func(t *testing.T) {
			runCRUD(t, crudCase[*coordinationv1.Lease, *coordinationv1.LeaseList]{
				client: coord.Leases(ns),
				obj:    &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "crud-lease"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("me"), LeaseDurationSeconds: ptr[int32](15)}},
				checkCreated: func(t *testing.T, l *coordinationv1.Lease) {
					if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "me" {
						t.Errorf("holder = %v", l.Spec.HolderIdentity)
					}
				},
				notFound: `leases.coordination.k8s.io "crud-lease" not found`,
			})
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t)
		})
	}
	t.Run("generated names", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		for i := 0; i < 3; i++ {
			cm, err := core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
			if len(cm.Name) != len("gen-")+5 || cm.Name[:4] != "gen-" {
				t.Errorf("generated name %q, want gen- plus 5 characters", cm.Name)
			}
		}
		list, err := core.ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		n := 0
		for _, cm := range list.Items {
			if cm.GenerateName == "gen-" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%d generated configmaps, want 3", n)
		}
	})
}
