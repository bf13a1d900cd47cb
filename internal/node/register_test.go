package node_test

import (
	"errors"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// A registration that fails (a slow or briefly failing server) is retried
// as the kubelet does, instead of ending the agent and the server with it.
func TestAgent_Run_RetriesNodeRegistration(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	var failures atomic.Int32
	client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures.Add(1) <= 2 {
			return true, nil, apierrors.NewInternalError(errors.New("etcd is busy"))
		}
		return false, nil, nil
	})
	startAgent(t, client, crt.NewFake(), nil) // fails the test unless the agent becomes ready
	if n := failures.Load(); n < 3 {
		t.Errorf("node creates = %d, want the 2 failures then a success", n)
	}
}
