package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/skiff-sh/skiff/internal/runtime/initi18n"
)

// initArg is the hidden first argument that turns the current binary into the
// container init helper. The process runtime starts every container as
// "/proc/self/exe <initArg>" with the helper config on fd 3 and a status pipe
// on fd 4; the helper sets up namespaces, mounts, hostname and credentials,
// then execs the workload (or runs the built-in pause).
const initArg = initi18n.InitArg

// File descriptors the helper receives (ExtraFiles start at 3).
const (
	initConfigFD = 3
	initStatusFD = 4
)

// Exit codes of the helper when it fails before exec; the parent reads the
// status pipe first, so these only matter if it cannot.
const (
	initExitSetup    = 126
	initExitNotFound = 127
)

// MaybeRunInit runs the container init helper and exits when the process was
// started as one; otherwise it returns at once. Call it first thing in main
// and in TestMain of packages that start containers with the process runtime:
//
//	func main() {
//		crt.MaybeRunInit()
//		...
//	}
func MaybeRunInit() {
	maybeRunExecShim()
	if len(os.Args) < 2 || os.Args[1] != initArg {
		initHookInstalled.Store(true)
		return
	}
	os.Exit(runInit())
}

// initHookInstalled records that this binary called MaybeRunInit, so that
// re-executing /proc/self/exe as the init helper is safe. Without it a
// binary such as a test binary would run its own main again for every
// container (in a test binary: the whole test, recursively). It is
// process-wide state because the fact it records is: which main this binary
// has.
var initHookInstalled atomic.Bool

// ErrNoInitHook: the runtime would re-execute its own binary as the
// container init helper, but that binary never called MaybeRunInit.
var ErrNoInitHook = errors.New("this binary does not run the container init helper: MaybeRunInit was not called in main (or TestMain)")

// initConfig is what the parent sends the helper on fd 3.
type initConfig struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// Dir is the working directory in the container's view.
	Dir        string `json:"dir"`
	Namespaces bool   `json:"namespaces"`
	Hostname   string `json:"hostname,omitempty"`
	// RootDir is the image root on the host, "" for the host's root.
	RootDir string `json:"rootDir,omitempty"`
	// NewRoot is an empty host directory where the container root is built.
	NewRoot string      `json:"newRoot,omitempty"`
	Mounts  []initMount `json:"mounts,omitempty"`
	// TermLog is the host file bound at TermLogPath in the container.
	TermLog        string   `json:"termLog,omitempty"`
	TermLogPath    string   `json:"termLogPath,omitempty"`
	UID            *uint32  `json:"uid,omitempty"`
	GID            *uint32  `json:"gid,omitempty"`
	Groups         []uint32 `json:"groups,omitempty"`
	Pause          bool     `json:"pause,omitempty"`
	FallbackBinDir string   `json:"fallbackBinDir,omitempty"`
}

// initMount is a resolved bind mount.
type initMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// runInit is the helper's body; it returns an exit code only on failure or
// when the built-in pause ends.
func runInit() int {
	status := os.NewFile(initStatusFD, "status")
	syscall.CloseOnExec(initStatusFD)
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(status, format, args...)
		return code
	}
	cfgFile := os.NewFile(initConfigFD, "config")
	var cfg initConfig
	err := json.NewDecoder(cfgFile).Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		return fail(initExitSetup, "reading container config: %v", err)
	}
	if err := setupContainer(&cfg); err != nil {
		return fail(initExitSetup, "%v", err)
	}
	if cfg.Pause && len(cfg.Argv) > 0 && cfg.Argv[0] == PausePath {
		// Handle signals before reporting the start: a Stop may follow at once.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		// The helper starts without a collector (helperEnv); a pause lives
		// on, so collect the start-up garbage and give it back.
		debug.SetGCPercent(100)
		debug.FreeOSMemory()
		status.Close()
		<-sigs
		return 0
	}
	exe, err := lookExecutable(cfg.Argv[0], &cfg)
	if err != nil {
		return fail(initExitNotFound, "exec: %q: %v", cfg.Argv[0], err)
	}
	err = syscall.Exec(exe, cfg.Argv, cfg.Env)
	return fail(initExitNotFound, "exec: %q: %v", cfg.Argv[0], err)
}

// setupContainer prepares the process: root, hostname, directory, credentials.
func setupContainer(cfg *initConfig) error {
	if cfg.Namespaces {
		if err := buildRoot(cfg); err != nil {
			return err
		}
		if cfg.Hostname != "" {
			if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
				return fmt.Errorf("setting hostname: %w", err)
			}
		}
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "/"
	}
	if cfg.Namespaces {
		// Container engines create a missing working directory.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating working directory %q: %w", dir, err)
		}
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("changing to working directory %q: %w", dir, err)
	}
	return dropCredentials(cfg)
}

func dropCredentials(cfg *initConfig) error {
	if cfg.UID == nil && cfg.GID == nil && len(cfg.Groups) == 0 {
		return nil
	}
	groups := make([]int, 0, len(cfg.Groups))
	for _, g := range cfg.Groups {
		groups = append(groups, int(g))
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setting supplementary groups: %w", err)
	}
	if cfg.GID != nil {
		if err := syscall.Setgid(int(*cfg.GID)); err != nil {
			return fmt.Errorf("setting gid %d: %w", *cfg.GID, err)
		}
	}
	if cfg.UID != nil {
		if err := syscall.Setuid(int(*cfg.UID)); err != nil {
			return fmt.Errorf("setting uid %d: %w", *cfg.UID, err)
		}
	}
	return nil
}

// lookExecutable resolves argv0 with the container's PATH; without namespaces
// busybox-style images resolve system paths to their applets first.
func lookExecutable(argv0 string, cfg *initConfig) (string, error) {
	pathEnv := defaultPath
	for _, kv := range cfg.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	if !cfg.Namespaces && cfg.FallbackBinDir != "" {
		if strings.Contains(argv0, "/") {
			switch path.Dir(argv0) {
			case "/bin", "/usr/bin", "/sbin", "/usr/sbin":
				if p := filepath.Join(cfg.FallbackBinDir, path.Base(argv0)); isExecutable(p) {
					return p, nil
				}
			}
		}
		pathEnv = cfg.FallbackBinDir + ":" + pathEnv
	}
	if strings.Contains(argv0, "/") {
		if !isExecutable(argv0) {
			return "", syscall.ENOENT
		}
		return argv0, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, argv0); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file not found in $PATH")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
