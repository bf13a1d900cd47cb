package runtime

import (
	"context"
	"io"
	"time"
)

// Runtime runs containers described by fully resolved specs. It knows no API
// server: the node agent translates Pods into ContainerSpecs and reports what
// the Runtime tells it.
//
// Container life cycle (per ID):
//
//	StartContainer ──ok──▶ Running ──process exits / Stop──▶ Exited ──Remove──▶ (gone)
//	      │                                                     ▲
//	      └──error (nothing left behind, ID free again)         │
//	                         Recovered (after a restart) ───────┘
//
// Contract:
//   - Concurrency: every method is safe for concurrent use, also on the same ID.
//   - Ownership: returned values are copies owned by the caller.
//   - Contexts: the ctx of a call bounds that call only. A container outlives the
//     ctx of StartContainer; cancelling Wait's or Stop's ctx stops waiting, it does
//     not kill the container (Stop's signals already sent stay sent). Logs with
//     Follow ends when the container exits or its ctx ends.
//   - Idempotence: StartContainer on an ID that exists returns ErrExists (IDs are
//     derived from pod UID, container name and attempt, see ContainerSpec.ID).
//     Stop on an exited container and Remove/RemoveSandbox on a missing one return
//     nil. Wait, Status, Logs and TerminationMessage on a missing ID return
//     ErrNotFound.
//   - Exited containers keep their status, log and termination message until Remove.
//   - Every field set in a spec is honoured or StartContainer fails: a spec that
//     needs namespaces on a host without them fails with ErrNamespacesUnavailable,
//     never runs without its volumes or hostname.
type Runtime interface {
	// CreateSandbox prepares the pod-level state shared by the pod's containers
	// (directories, emptyDir volumes, tmpfs for medium Memory). It is idempotent:
	// a second call for the same pod returns the same Sandbox.
	CreateSandbox(ctx context.Context, spec SandboxSpec) (Sandbox, error)
	// RemoveSandbox kills (without grace) and removes the pod's remaining
	// containers, unmounts its volumes and deletes its directory, logs included.
	RemoveSandbox(ctx context.Context, podUID string) error

	// StartContainer starts spec and returns once the workload runs (its
	// executable has been exec'ed) or has failed to start. A start failure is
	// a *StartError (or a sentinel from errors.go for spec problems); no
	// container is left behind then.
	StartContainer(ctx context.Context, spec ContainerSpec) (ContainerID, error)
	// Wait blocks until the container has exited and returns its exit status.
	// Any number of callers may wait; after the exit it returns at once.
	Wait(ctx context.Context, id ContainerID) (ExitStatus, error)
	// Stop sends SIGTERM to the container's process group, waits up to grace
	// for it to exit, then sends SIGKILL and waits a bounded time (KillTimeout)
	// for the exit. A concurrent Stop with a shorter grace shortens the wait.
	// grace <= 0 kills at once.
	Stop(ctx context.Context, id ContainerID, grace time.Duration) error
	// Remove kills the container if it still runs and forgets it, deleting its
	// log and state.
	Remove(ctx context.Context, id ContainerID) error

	// Status returns a snapshot of one container.
	Status(ctx context.Context, id ContainerID) (ContainerStatus, error)
	// List returns all containers the runtime knows, including ones recovered
	// from the data directory after a restart (for reconciliation).
	List(ctx context.Context) ([]ContainerStatus, error)

	// Logs writes the container's log to w as selected by opts.
	Logs(ctx context.Context, id ContainerID, opts LogOptions, w io.Writer) error
	// TerminationMessage returns the message the container wrote to its
	// terminationMessagePath (at most MaxTerminationMessageLength bytes); when it
	// is empty, fallbackToLogsOnError is set and the container failed, the tail of
	// its log instead (upstream's FallbackToLogsOnError).
	TerminationMessage(ctx context.Context, id ContainerID, fallbackToLogsOnError bool) (string, error)

	// ExecSync runs cmd in the running container id as its workload runs
	// (see the implementations for how close that is) and returns the
	// command's exit status and combined output, at most MaxExecOutput
	// bytes. When timeout > 0 passes first, the command is killed and the
	// error is ErrExecTimeout. A missing container gives ErrNotFound, an
	// exited one ErrNotRunning. A non-zero exit is not an error.
	ExecSync(ctx context.Context, id ContainerID, cmd []string, timeout time.Duration) (ExecResult, error)
	// Exec runs cmd in the running container id as ExecSync does, with its
	// standard streams connected to streams (kubectl exec), until it exits;
	// the end of ctx kills it. It returns the exit code, 128+signal when a
	// signal ended the command; an executable that cannot be found exits
	// with 127 and a message on the error stream. Errors as ExecSync's.
	Exec(ctx context.Context, id ContainerID, cmd []string, streams ExecIO) (int32, error)
	// Attach connects streams to the running container id's workload
	// (kubectl attach): its output from now on, and its standard input when
	// the spec kept it open. It returns when the container exits or ctx
	// ends. A missing container gives ErrNotFound, an exited one
	// ErrNotRunning.
	Attach(ctx context.Context, id ContainerID, streams ExecIO) error

	// Capabilities reports what this runtime can do on this host.
	Capabilities() Capabilities
}

// ExecResult is the outcome of ExecSync.
type ExecResult struct {
	// ExitCode of the command, 128+signal when a signal ended it.
	ExitCode int32
	// Output is stdout and stderr interleaved, cut at MaxExecOutput bytes.
	Output []byte
}

// MaxExecOutput caps ExecResult.Output (the kubelet's exec probe reads 10 KiB).
const MaxExecOutput = 10 * 1024

// ContainerID identifies one start of one container: "<podUID>_<name>_<attempt>".
type ContainerID string

// State is a container's life-cycle state.
type State string

// Container states.
const (
	StateRunning State = "Running"
	StateExited  State = "Exited"
)

// Exit reasons as the kubelet reports them in containerStatuses[].state.terminated.reason.
const (
	ReasonCompleted              = "Completed"
	ReasonError                  = "Error"
	ReasonOOMKilled              = "OOMKilled"
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
	ReasonStartError             = "StartError"
)

// ExitStatus is how a container ended.
type ExitStatus struct {
	// ExitCode is the process's exit code, or 128+signal when a signal ended it.
	ExitCode int32
	// Signal is the signal that ended the process, 0 when it exited by itself.
	Signal int
	// OOMKilled is set when the kernel's OOM killer ended the container.
	OOMKilled bool
	// Reason is ReasonCompleted, ReasonError, ReasonOOMKilled or
	// ReasonContainerStatusUnknown (a container lost across a restart).
	Reason string
	// Message is a human-readable detail, may be empty.
	Message    string
	StartedAt  time.Time
	FinishedAt time.Time
}

// ContainerStatus is a snapshot of a container.
type ContainerStatus struct {
	ID           ContainerID
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string
	Attempt      int32
	Image        string
	State        State
	// PID is the host process ID while the container runs (0 for fake).
	PID       int
	StartedAt time.Time
	// Exit is set once State is StateExited.
	Exit *ExitStatus
	// Recovered marks containers found in the data directory after a restart
	// of the runtime: the runtime can stop them but did not start them.
	Recovered bool
	// LogPath is the CRI-format log file, "" for runtimes without files.
	LogPath string
	// Limits tells which resource limits are enforced (see Capabilities).
	LimitsApplied bool
}

// Capabilities describes the host features a runtime uses.
type Capabilities struct {
	// Namespaces: mount, UTS and PID namespaces are available, so volumes are
	// mounted at their mountPath, hostnames are private and images get a root.
	Namespaces bool
	// CgroupVersion is 1 or 2 when memory/CPU limits are enforced, 0 when not.
	CgroupVersion int
	// Network: containers share the host's network, so httpGet, tcpSocket
	// and grpc probes reach what they serve at the node IP. False for the
	// fake runtime, whose containers serve nothing: the agent answers those
	// probes with ExecSync instead (see Fake.ExecSync).
	Network bool
	// Busybox is the busybox binary serving busybox images, "" if missing.
	Busybox string
	// Reason explains missing features, for logs and events.
	Reason string
}

// SandboxSpec describes the pod-level state of a pod.
type SandboxSpec struct {
	PodUID       string
	PodNamespace string
	PodName      string
	// EmptyDirs are created under the sandbox (see Sandbox.VolumePaths).
	EmptyDirs []EmptyDir
}

// EmptyDir is a pod-scoped scratch volume.
type EmptyDir struct {
	Name string
	// Memory backs the volume by tmpfs (emptyDir medium Memory). Without
	// privileges to mount, the volume falls back to disk and Sandbox.Warnings says so.
	Memory bool
	// SizeLimit caps the tmpfs size in bytes; 0 means the tmpfs default.
	SizeLimit int64
}

// Sandbox is the pod-level state on the host.
type Sandbox struct {
	PodUID string
	// Dir is the pod's directory; the agent may create files under Dir/volumes
	// (VolumeDir) for configMap, secret, downwardAPI and projected volumes.
	// "" means the runtime keeps no files (fake): nothing is to be populated.
	Dir string
	// VolumePaths maps each EmptyDir name to its host directory.
	VolumePaths map[string]string
	// Warnings lists features that fell back (e.g. tmpfs not allowed).
	Warnings []string
}

// ContainerSpec is a fully resolved container: the agent has expanded
// $(VAR) references (ExpandVars), resolved env sources and volume host paths.
type ContainerSpec struct {
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string
	// Attempt is the restart count; one start per (PodUID, Name, Attempt).
	Attempt int32
	// Image selects the root file system (see ImageResolver).
	Image string
	// Command and Args as in the Pod API: Command replaces the image's
	// entrypoint, Args its default arguments.
	Command []string
	Args    []string
	// Env is the resolved environment, in order; later entries win.
	Env []EnvVar
	// WorkingDir in the container's view; "" means the image's default ("/").
	WorkingDir string
	Mounts     []Mount
	// Hostname is the container's hostname (UTS namespace); "" keeps the host's.
	Hostname string
	// RunAsUser / RunAsGroup set the process credentials; nil keeps the runtime's.
	RunAsUser  *int64
	RunAsGroup *int64
	// SupplementalGroups are added to the process's groups.
	SupplementalGroups []int64
	// MemoryLimit in bytes and CPULimitMilli in millicores; 0 means unlimited.
	MemoryLimit   int64
	CPULimitMilli int64
	// TerminationMessagePath is the file, in the container's view, whose content
	// becomes the termination message; "" means /dev/termination-log.
	TerminationMessagePath string
	// Stdin keeps the workload's standard input open for Attach (otherwise
	// it reads /dev/null); StdinOnce closes it when the first attached
	// client's input ends. TTY runs the workload on a new terminal, whose
	// output is logged as stdout. As the Pod API's fields.
	Stdin, StdinOnce, TTY bool
	// HostPID keeps the container in the host's PID namespace (a pod's
	// hostPID) instead of giving it its own.
	HostPID bool
	// PIDNamespaceOf, when set, is a running container whose PID namespace
	// this one joins instead of getting its own (an ephemeral container's
	// targetContainerName). Without namespaces every container shares the
	// host's anyway.
	PIDNamespaceOf ContainerID
	// Fake configures the fake runtime; the process runtime ignores it.
	Fake FakeBehavior
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// Mount binds a host path into the container.
type Mount struct {
	// HostPath is the source on the host (volume directory or file).
	HostPath string
	// SubPath, when set, is a relative path under HostPath that is mounted
	// instead; it must not escape HostPath and is created as a directory if
	// missing (as the kubelet does).
	SubPath string
	// ContainerPath is the absolute target in the container's view.
	ContainerPath string
	ReadOnly      bool
}

// FakeBehavior sets what a fake container does. The agent maps the pod
// annotations skiff.dev/fake-duration, skiff.dev/fake-exit-code and
// skiff.dev/fake-exec-exit-code to it.
type FakeBehavior struct {
	// Duration the container runs before exiting by itself; 0 exits at once,
	// negative runs until stopped.
	Duration time.Duration
	// ExitCode when the container exits by itself.
	ExitCode int32
	// TermDelay is how long the container takes to exit after SIGTERM (exit
	// code 143); negative ignores SIGTERM, so Stop ends it with SIGKILL (137).
	TermDelay time.Duration
	// Output is written to the container's log when it starts.
	Output string
	// ExecExitCode is the exit code of every ExecSync in the container,
	// and so the result of its probes (0: they succeed).
	ExecExitCode int32
}

// Annotations the agent maps to FakeBehavior.
const (
	AnnotationFakeDuration = "skiff.dev/fake-duration"
	AnnotationFakeExitCode = "skiff.dev/fake-exit-code"
	// AnnotationFakeExecExitCode sets FakeBehavior.ExecExitCode: "1" makes
	// every probe of the pod's fake containers fail.
	AnnotationFakeExecExitCode = "skiff.dev/fake-exec-exit-code"
)

// LogOptions selects what Logs writes, as the pods/log subresource does.
type LogOptions struct {
	// TailLines, when >= 0, keeps only the last TailLines lines; negative means all.
	TailLines int64
	// Since, when non-zero, keeps lines logged at or after it.
	Since time.Time
	// Timestamps prefixes each line with its RFC3339Nano timestamp.
	Timestamps bool
	// LimitBytes, when > 0, stops after that many bytes.
	LimitBytes int64
	// Follow keeps streaming until the container exits or ctx ends.
	Follow bool
}

// Termination message limits, as upstream's kubelet.
const (
	MaxTerminationMessageLength    = 1024 * 4
	MaxTerminationMessageLogLength = 1024 * 2
	MaxTerminationMessageLogLines  = 80
)

// DefaultTerminationMessagePath is the path used when the spec sets none.
const DefaultTerminationMessagePath = "/dev/termination-log"
