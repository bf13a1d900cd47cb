package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Controller identities, as upstream's kube-controller-manager with
// --use-service-account-credentials: each controller is the service account
// kube-system/<name>, bound to ClusterRole system:controller:<name>.
const (
	JobController              = "job-controller"
	GarbageCollector           = "generic-garbage-collector"
	TTLAfterFinishedController = "ttl-after-finished-controller"
	NamespaceController        = "namespace-controller"
	ServiceAccountController   = "service-account-controller"
	PodGarbageCollector        = "pod-garbage-collector"
	RootCACertPublisher        = "root-ca-cert-publisher"
)

// Controllers lists every controller identity Skiff runs.
var Controllers = []string{JobController, GarbageCollector, TTLAfterFinishedController, NamespaceController, ServiceAccountController,
	PodGarbageCollector, RootCACertPublisher}

// ControllerInfo is the identity of a controller: the service account
// system:serviceaccount:kube-system:<name>.
func ControllerInfo(name string) user.Info {
	return serviceaccount.UserInfo("kube-system", name, "")
}

// NodeInfo is a node agent's identity: system:node:<name> in system:nodes.
func NodeInfo(nodeName string) user.Info {
	return &user.DefaultInfo{Name: "system:node:" + nodeName, Groups: []string{user.NodesGroup}}
}

// ControllerManagerInfo is kube-controller-manager's own identity, which
// upstream's tokens controller writes with.
func ControllerManagerInfo() user.Info {
	return &user.DefaultInfo{Name: user.KubeControllerManager}
}

// SchedulerInfo is the identity of whatever binds pods to nodes.
func SchedulerInfo() user.Info {
	return &user.DefaultInfo{Name: user.KubeScheduler}
}

// Identities mints in-memory tokens for the server's own clients (the
// controllers, the local node agent, the scheduler). The tokens live only as
// long as the process and are never written anywhere; a restart mints new
// ones. Safe for concurrent use.
type Identities struct {
	// mu guards tokens, which maps a minted token to its identity.
	mu     sync.RWMutex
	tokens map[string]user.Info
}

var _ authenticator.Token = (*Identities)(nil)

// NewIdentities returns an empty set.
func NewIdentities() *Identities {
	return &Identities{tokens: map[string]user.Info{}}
}

// Token mints a new token for u.
func (ids *Identities) Token(u user.Info) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating identity token: %w", err)
	}
	tok := "skiff-internal." + hex.EncodeToString(buf)
	ids.mu.Lock()
	ids.tokens[tok] = u
	ids.mu.Unlock()
	return tok, nil
}

// AuthenticateToken implements authenticator.Token.
func (ids *Identities) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	ids.mu.RLock()
	u, ok := ids.tokens[token]
	ids.mu.RUnlock()
	if !ok {
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: append([]string(nil), u.GetGroups()...), Extra: u.GetExtra()}}, true, nil
}
