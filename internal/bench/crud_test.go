package bench

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// serverLikeClient returns a fake clientset that, like a real server, gives
// every created object a UID and a resourceVersion.
func serverLikeClient() *fake.Clientset {
	cs := fake.NewClientset()
	var rv atomic.Int64
	cs.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		create, ok := action.(k8stesting.CreateAction)
		if !ok || action.GetSubresource() != "" {
			return false, nil, nil
		}
		if obj, ok := create.GetObject().(metav1.Object); ok {
			n := rv.Add(1)
			obj.SetUID(types.UID("uid-" + strconv.FormatInt(n, 10)))
			obj.SetResourceVersion(strconv.FormatInt(n, 10))
		}
		return false, nil, nil
	})
	return cs
}

func TestRunCRUD_FakeServer(t *testing.T) {
	t.Parallel()
	cs := serverLikeClient()
	res, err := RunCRUD(t.Context(), CRUDConfig{Common: Common{Client: cs}, Workers: 4, N: 40})
	if err != nil {
		t.Fatalf("RunCRUD: %v", err)
	}
	got := struct{ Pairs, Creates, Deletes, Errors int }{res.Pairs, res.Create.Count, res.Delete.Count, res.ErrorTotal}
	want := struct{ Pairs, Creates, Deletes, Errors int }{40, 40, 40, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if res.OpsPerSecond <= 0 || res.ContentType != ContentTypeProtobuf {
		t.Errorf("ops/s = %v, content type = %q", res.OpsPerSecond, res.ContentType)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), res.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s not cleaned up: %v", res.Namespace, err)
	}
}

func TestRunCRUD_VerificationFailures(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		reactor     k8stesting.ReactionFunc
		verb        string
		wantErrors  map[string]int
		wantFailure bool
	}{
		"a create without uid fails verification": {
			verb: "create",
			reactor: func(action k8stesting.Action) (bool, runtime.Object, error) {
				if action.GetResource().Resource != "jobs" {
					return false, nil, nil
				}
				obj := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
				return true, obj, nil // returned but never stored, no uid
			},
			wantFailure: true,
		},
		"a created job missing on delete fails verification": {
			verb: "delete",
			reactor: func(action k8stesting.Action) (bool, runtime.Object, error) {
				return action.GetResource().Resource == "jobs", nil, apierrors.NewNotFound(batchv1.Resource("jobs"), "x")
			},
			wantFailure: true,
		},
		"server errors are counted by code and fail the run": {
			verb: "create",
			reactor: func(action k8stesting.Action) (bool, runtime.Object, error) {
				return action.GetResource().Resource == "jobs", nil, apierrors.NewInternalError(errors.New("etcd down"))
			},
			wantErrors:  map[string]int{"500": 5},
			wantFailure: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cs := serverLikeClient()
			cs.PrependReactor(tc.verb, "jobs", tc.reactor)
			res, err := RunCRUD(t.Context(), CRUDConfig{Common: Common{Client: cs, Timeout: time.Second}, Workers: 1, N: 5})
			var verr *VerificationError
			if got := errors.As(err, &verr); got != tc.wantFailure {
				t.Fatalf("err = %v, want a verification error: %t", err, tc.wantFailure)
			}
			if diff := cmp.Diff(tc.wantErrors, res.Errors); diff != "" {
				t.Errorf("errors by code (-want +got):\n%s", diff)
			}
			if len(res.Failures) == 0 {
				t.Error("result lists no failures")
			}
		})
	}
}

func TestRunCRUD_InvalidConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]CRUDConfig{
		"no client":            {},
		"negative workers":     {Common: Common{Client: fake.NewClientset()}, Workers: -1},
		"unknown content type": {Common: Common{Client: fake.NewClientset(), ContentType: "yaml"}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := RunCRUD(t.Context(), cfg); err == nil {
				t.Error("RunCRUD succeeded, want an error")
			}
		})
	}
}
