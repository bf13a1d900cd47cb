package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/auth"
	"github.com/skiff-sh/skiff/internal/informer"
	"github.com/skiff-sh/skiff/internal/node"
	"github.com/skiff-sh/skiff/internal/node/scheduler"
	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// Runtimes the node agent can use.
const (
	RuntimeProcess = "process"
	RuntimeFake    = "fake"
)

// Pod capacity of the local node when Config.MaxPods is 0: upstream's
// kubelet default for real processes; the fake runtime's pods cost nothing.
const (
	defaultMaxPods     = 110
	defaultFakeMaxPods = 10000
)

// nodeParts is the local node: agent, scheduler and their runtime.
type nodeParts struct {
	runtime crt.Runtime
	closer  func(context.Context) error
	agent   *node.Agent
	sched   *scheduler.Scheduler
}

// newNode builds the node agent and the scheduler. The agent's informers
// read the watch cache (src); the scheduler shares the controller manager's
// informers (shared), as one Pod informer serves both.
func (s *Server) newNode(src *informer.Source, shared informers.SharedInformerFactory) (*nodeParts, error) {
	n := &nodeParts{closer: func(context.Context) error { return nil }}
	nodeName := s.cfg.NodeName
	if nodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
		nodeName = strings.ToLower(h)
	}
	client, err := s.clientFor(auth.NodeInfo(nodeName))
	if err != nil {
		return nil, err
	}
	schedClient, err := s.clientFor(auth.SchedulerInfo())
	if err != nil {
		return nil, err
	}
	nodeEvents, err := eventClient(s.clientConfig, auth.NodeInfo(nodeName), kubeletEvents)
	if err != nil {
		return nil, err
	}
	schedEvents, err := eventClient(s.clientConfig, auth.SchedulerInfo(), schedulerEvents)
	if err != nil {
		return nil, err
	}
	maxPods := s.cfg.MaxPods
	switch s.cfg.Runtime {
	case RuntimeFake:
		n.runtime = crt.NewFake()
		if maxPods == 0 {
			maxPods = defaultFakeMaxPods
		}
	case RuntimeProcess, "":
		p, err := crt.NewProcess(crt.ProcessConfig{Dir: filepath.Join(s.cfg.DataDir, "runtime"), Logger: s.logger})
		if err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
		n.runtime, n.closer = p, p.Close
		if maxPods == 0 {
			maxPods = defaultMaxPods
		}
	default:
		return nil, fmt.Errorf("unknown runtime %q (want %q or %q)", s.cfg.Runtime, RuntimeProcess, RuntimeFake)
	}
	agent, err := node.New(node.Config{
		Client: client, Runtime: n.runtime, NodeName: nodeName, Logger: s.logger,
		Capacity:           corev1.ResourceList{corev1.ResourcePods: resource.MustParse(strconv.Itoa(maxPods))},
		NewInformerFactory: src.Factory,
		EventClient:        nodeEvents,
		APIServerHost:      s.podReachableHost(),
		APIServerPort:      s.listener.Addr().(*net.TCPAddr).Port,
	})
	if err != nil {
		return nil, fmt.Errorf("node agent: %w", err)
	}
	sched, err := scheduler.New(scheduler.Config{Client: schedClient, Logger: s.logger, EventClient: schedEvents,
		NewInformerFactory: informer.Shared(shared)})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	n.agent, n.sched = agent, sched
	return n, nil
}

// clientFor is a loopback client acting as who.
func (s *Server) clientFor(who user.Info) (kubernetes.Interface, error) {
	cfg, err := s.clientConfig(who)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// podReachableHost is the address pods (host processes) reach the API at:
// the bind address, or loopback when it listens on every address. The
// serving certificate covers both.
func (s *Server) podReachableHost() string {
	if ip := net.ParseIP(s.cfg.BindAddress); ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return s.cfg.BindAddress
}
