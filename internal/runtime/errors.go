package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors of the runtime layer. Inspect them with errors.Is; the node
// agent translates them once, into container state reasons and events.
var (
	// ErrNotFound: no container (or sandbox) with that ID.
	ErrNotFound = errors.New("container not found")
	// ErrExists: a container with that ID (pod UID, name, attempt) exists.
	ErrExists = errors.New("container already exists")
	// ErrInvalidSpec: the spec is malformed (missing names, relative mount
	// paths, subPath escaping its volume, ...).
	ErrInvalidSpec = errors.New("invalid container spec")
	// ErrNoCommand: neither the spec nor the image gives a command to run.
	ErrNoCommand = errors.New("no command specified")
	// ErrNamespacesUnavailable: the spec needs mount/UTS namespaces (volumes at
	// a mountPath, a hostname, an image root) that this host does not allow.
	ErrNamespacesUnavailable = errors.New("linux namespaces unavailable")
	// ErrBusyboxMissing: a busybox image was asked for but the busybox binary
	// is not installed (Debian package busybox-static).
	ErrBusyboxMissing = errors.New("busybox binary not found (install the Debian package busybox-static)")
	// ErrStopTimeout: the container survived SIGKILL for the whole KillTimeout.
	ErrStopTimeout = errors.New("container did not exit after SIGKILL")
	// ErrNotRunning: the container has exited (ExecSync needs a running one).
	ErrNotRunning = errors.New("container is not running")
	// ErrExecTimeout: ExecSync's command outlived its timeout and was killed.
	ErrExecTimeout = errors.New("exec timed out")
	// ErrClosed: the runtime has been closed.
	ErrClosed = errors.New("runtime closed")
)

// StartError reports a container whose process could not be started, e.g.
// an executable that does not exist. The kubelet reports such a container as
// terminated with reason StartError and exit code 128.
type StartError struct {
	// ID of the container that failed.
	ID ContainerID
	// Message is the detail, suitable for containerStatuses[].state.terminated.message.
	Message string
	// Err is the underlying cause, may be nil.
	Err error
}

// Error implements error.
func (e *StartError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("starting container %s: %s: %v", e.ID, e.Message, e.Err)
	}
	return fmt.Sprintf("starting container %s: %s", e.ID, e.Message)
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// StartErrorExitCode is the exit code the kubelet (containerd) reports for
// containers that failed to start.
const StartErrorExitCode = 128
