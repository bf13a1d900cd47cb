package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/skiff-sh/skiff/internal/runtime/initi18n"
)

// execShimArg is the hidden first argument that turns the binary into the
// exec shim. util-linux nsenter enters a container for exec, but its
// --setgid clears the supplementary groups, so a command in a container
// with supplementary groups (supplementalGroups, fsGroup) runs as
//
//	nsenter --target PID --mount --uts --pid -- /proc/self/fd/3 execShimArg ROOT DIR UID GID GROUPS -- cmd...
//
// where fd 3 is this binary, open. The shim starts in the container's
// namespaces but still in the host's root (containers are chrooted, not
// pivoted), where this binary finds its dynamic loader. It then does what
// nsenter's --root and --wdns would have done, sets the credentials as the
// init helper sets the workload's, and execs cmd.
const execShimArg = initi18n.ExecShimArg

// execShimFD is the descriptor the shim's binary is passed on.
const execShimFD = 3

// maybeRunExecShim runs the exec shim and exits when the process was
// started as one (see MaybeRunInit).
func maybeRunExecShim() {
	if len(os.Args) < 2 || os.Args[1] != execShimArg {
		return
	}
	os.Exit(runExecShim(os.Args[2:]))
}

// runExecShim is the shim's body; it returns only on failure, with the
// exit code and message nsenter gives for a command it cannot run.
func runExecShim(args []string) int {
	syscall.CloseOnExec(execShimFD) // the command must not inherit this binary
	root, dir, cfg, argv, err := parseExecShimArgs(args)
	if err == nil {
		err = enterRoot(root, dir)
	}
	if err == nil {
		err = dropCredentials(cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "skiff exec: %v\n", err)
		return initExitSetup
	}
	cfg.Env, cfg.Namespaces = os.Environ(), true
	exe, err := lookExecutable(argv[0], cfg)
	if err == nil {
		err = syscall.Exec(exe, argv, cfg.Env)
	}
	fmt.Fprintf(os.Stderr, "exec: %q: %v\n", argv[0], err)
	return initExitNotFound
}

// enterRoot changes to the container's root and working directory.
func enterRoot(root, dir string) error {
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("entering the container's root: %w", err)
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("changing to working directory %q: %w", dir, err)
	}
	return nil
}

// execShimArgs are the shim's arguments: the container's root and working
// directory, then e's credentials: UID, GID ("-" when not set) and the
// groups, comma-separated.
func execShimArgs(root, dir string, e *execEnv) []string {
	id := func(v *uint32) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatUint(uint64(*v), 10)
	}
	groups := make([]string, len(e.groups))
	for i, g := range e.groups {
		groups[i] = strconv.FormatUint(uint64(g), 10)
	}
	return []string{execShimArg, root, dir, id(e.uid), id(e.gid), strings.Join(groups, ",")}
}

func parseExecShimArgs(args []string) (root, dir string, cfg *initConfig, argv []string, err error) {
	if len(args) < 7 || args[5] != "--" {
		return "", "", nil, nil, fmt.Errorf("usage: %s ROOT DIR UID GID GROUPS -- COMMAND...", execShimArg)
	}
	id := func(s string) (*uint32, error) {
		if s == "-" {
			return nil, nil
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad id %q: %w", s, err)
		}
		v := uint32(n)
		return &v, nil
	}
	cfg = &initConfig{}
	if cfg.UID, err = id(args[2]); err != nil {
		return "", "", nil, nil, err
	}
	if cfg.GID, err = id(args[3]); err != nil {
		return "", "", nil, nil, err
	}
	for g := range strings.SplitSeq(args[4], ",") {
		if g == "" {
			continue
		}
		v, err := id(g)
		if err != nil || v == nil {
			return "", "", nil, nil, fmt.Errorf("bad group %q", g)
		}
		cfg.Groups = append(cfg.Groups, *v)
	}
	return args[0], args[1], cfg, args[6:], nil
}
