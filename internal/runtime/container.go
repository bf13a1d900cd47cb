package runtime

import (
	"sync"
	"syscall"
	"time"
)

// container is one container of the process runtime.
//
// Fields set before the container is published in Process.containers (and
// never changed afterwards) are read without locks. exit is written once by
// the waiter before it closes done; readers read it only after <-done.
type container struct {
	id      ContainerID
	podUID  string
	podNS   string
	podName string
	name    string
	attempt int32
	image   string
	dir     string
	logPath string
	termLog string // host file holding the termination message, "" if none
	pid     int
	// pidNamespaceOf is the process whose PID namespace the container
	// joins at its start (ContainerSpec.PIDNamespaceOf), 0 for its own;
	// hostPID keeps it in the host's.
	pidNamespaceOf int
	hostPID        bool
	startedAt      time.Time
	cg             *cgroup
	recovered      bool
	// exec is how ExecSync runs commands like the workload; nil for
	// recovered containers.
	exec *execEnv
	// stdio connects Attach to the workload; nil for recovered containers.
	stdio *attachIO

	// starting marks an ID reserved by an in-flight StartContainer; guarded by
	// Process.mu and cleared (under it) when the start succeeds.
	starting bool

	// done is closed once the process has exited, its logs are drained and
	// exit is set.
	done chan struct{}
	exit ExitStatus

	// mu guards killed: whether Stop escalated to SIGKILL (for recovered
	// containers, whose exit code cannot be read).
	mu     sync.Mutex
	killed bool
}

func (c *container) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *container) status() ContainerStatus {
	st := ContainerStatus{
		ID: c.id, PodUID: c.podUID, PodNamespace: c.podNS, PodName: c.podName, Name: c.name,
		Attempt: c.attempt, Image: c.image, State: StateRunning, PID: c.pid,
		StartedAt: c.startedAt, Recovered: c.recovered, LogPath: c.logPath, LimitsApplied: c.cg != nil,
	}
	if c.exited() {
		exit := c.exit
		st.State, st.Exit, st.PID = StateExited, &exit, 0
	}
	return st
}

// signal sends sig to the container's process group (and, for SIGKILL, to
// every process left in its cgroup).
func (c *container) signal(sig syscall.Signal) {
	if c.exited() || c.pid <= 0 {
		return
	}
	if sig == syscall.SIGKILL {
		c.mu.Lock()
		c.killed = true
		c.mu.Unlock()
		c.cg.killAll()
	}
	_ = syscall.Kill(-c.pid, sig)
}

// exitStatusFrom converts a wait status into an ExitStatus.
func exitStatusFrom(ws syscall.WaitStatus, oom bool, started, finished time.Time) ExitStatus {
	st := ExitStatus{StartedAt: started, FinishedAt: finished}
	switch {
	case ws.Signaled():
		st.Signal = int(ws.Signal())
		st.ExitCode = int32(128 + st.Signal)
	default:
		st.ExitCode = int32(ws.ExitStatus())
	}
	switch {
	case oom:
		st.OOMKilled, st.Reason = true, ReasonOOMKilled
	case st.ExitCode == 0:
		st.Reason = ReasonCompleted
	default:
		st.Reason = ReasonError
	}
	return st
}
