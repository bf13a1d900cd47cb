package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroupManager creates one cgroup per container with limits. It detects, in
// order: cgroup v2 with the memory and cpu controllers delegated to our own
// cgroup; writable cgroup v1 memory (and cpu) hierarchies; nothing (limits are
// then not enforced and reason says why). It is immutable after detection.
type cgroupManager struct {
	version int
	// v2 is the parent of container cgroups (v2 only).
	v2 string
	// v1Memory and v1CPU are the parents of container cgroups (v1 only;
	// v1CPU may be "" when the cpu controller is not writable).
	v1Memory string
	v1CPU    string
	reason   string
}

// cgroupParentName is the directory under our own cgroup holding containers.
const cgroupParentName = "skiff-containers"

// detectCgroups finds the cgroup setup usable for limits.
func detectCgroups(disabled bool) *cgroupManager {
	if disabled {
		return &cgroupManager{reason: "cgroup limits disabled by configuration"}
	}
	mounts, own, err := readCgroupInfo()
	if err != nil {
		return &cgroupManager{reason: fmt.Sprintf("reading cgroup setup: %v", err)}
	}
	if dir, ok := mounts["cgroup2"]; ok {
		if m, err := detectV2(filepath.Join(dir, own[""])); err == nil {
			return m
		} else if _, v1 := mounts["memory"]; !v1 {
			return &cgroupManager{reason: fmt.Sprintf("cgroup v2 not delegated: %v", err)}
		}
	}
	memMount, ok := mounts["memory"]
	if !ok {
		return &cgroupManager{reason: "no cgroup memory controller mounted"}
	}
	mem := filepath.Join(memMount, own["memory"], cgroupParentName)
	if err := os.MkdirAll(mem, 0o755); err != nil {
		return &cgroupManager{reason: fmt.Sprintf("cgroup v1 memory hierarchy not writable: %v", err)}
	}
	m := &cgroupManager{version: 1, v1Memory: mem}
	if cpuMount, ok := mounts["cpu"]; ok {
		cpu := filepath.Join(cpuMount, own["cpu"], cgroupParentName)
		if os.MkdirAll(cpu, 0o755) == nil {
			m.v1CPU = cpu
		}
	}
	if m.v1CPU == "" {
		m.reason = "cgroup v1 cpu controller not writable: cpu limits not enforced"
	}
	return m
}

// readCgroupInfo returns controller -> mount point ("cgroup2" for a unified
// mount) and controller -> own path ("" for v2) of the current process.
func readCgroupInfo() (mounts, own map[string]string, err error) {
	mounts = map[string]string{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 3 || fields[3] != "/" {
			continue
		}
		switch postFields[0] {
		case "cgroup2":
			if _, seen := mounts["cgroup2"]; !seen {
				mounts["cgroup2"] = fields[4]
			}
		case "cgroup":
			for _, opt := range strings.Split(postFields[2], ",") {
				if opt == "memory" || opt == "cpu" {
					mounts[opt] = fields[4]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, nil, err
	}
	own = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return mounts, own, nil
}

// detectV2 checks that memory and cpu can be enabled below ownDir.
func detectV2(ownDir string) (*cgroupManager, error) {
	data, err := os.ReadFile(filepath.Join(ownDir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	ctrls := strings.Fields(string(data))
	if !contains(ctrls, "memory") || !contains(ctrls, "cpu") {
		return nil, fmt.Errorf("memory and cpu controllers not available in %s", ownDir)
	}
	parent := filepath.Join(ownDir, cgroupParentName)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	// Our own cgroup must pass memory and cpu down; this fails with EBUSY when
	// it holds processes and is not the root (no internal processes rule).
	for _, dir := range []string{ownDir, parent} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644); err != nil {
			return nil, fmt.Errorf("enabling controllers in %s: %w", dir, err)
		}
	}
	return &cgroupManager{version: 2, v2: parent}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cgroup is one container's cgroup (one dir per v1 hierarchy, one for v2).
type cgroup struct {
	version int
	dirs    []string
	memDir  string
}

// create makes the container's cgroup with the given limits; it returns nil
// when no limit is asked for or limits are not enforced on this host.
func (m *cgroupManager) create(name string, memory, cpuMilli int64) (*cgroup, error) {
	if m.version == 0 || (memory <= 0 && cpuMilli <= 0) {
		return nil, nil
	}
	cg := &cgroup{version: m.version}
	var err error
	if m.version == 2 {
		err = cg.setupV2(filepath.Join(m.v2, name), memory, cpuMilli)
	} else {
		err = cg.setupV1(m, name, memory, cpuMilli)
	}
	if err != nil {
		cg.remove()
		return nil, fmt.Errorf("creating cgroup: %w", err)
	}
	return cg, nil
}

func (c *cgroup) setupV2(dir string, memory, cpuMilli int64) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	c.dirs, c.memDir = []string{dir}, dir
	if memory > 0 {
		if err := writeCgroupFile(dir, "memory.max", strconv.FormatInt(memory, 10)); err != nil {
			return err
		}
		_ = writeCgroupFile(dir, "memory.swap.max", "0")
	}
	if cpuMilli > 0 {
		quota := max(cpuMilli*100, 1000)
		return writeCgroupFile(dir, "cpu.max", fmt.Sprintf("%d 100000", quota))
	}
	return nil
}

func (c *cgroup) setupV1(m *cgroupManager, name string, memory, cpuMilli int64) error {
	if memory > 0 {
		dir := filepath.Join(m.v1Memory, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		c.dirs, c.memDir = append(c.dirs, dir), dir
		if err := writeCgroupFile(dir, "memory.limit_in_bytes", strconv.FormatInt(memory, 10)); err != nil {
			return err
		}
		_ = writeCgroupFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(memory, 10))
	}
	if cpuMilli > 0 && m.v1CPU != "" {
		dir := filepath.Join(m.v1CPU, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		c.dirs = append(c.dirs, dir)
		if err := writeCgroupFile(dir, "cpu.cfs_period_us", "100000"); err != nil {
			return err
		}
		return writeCgroupFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(max(cpuMilli*100, 1000), 10))
	}
	return nil
}

func writeCgroupFile(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// addProc moves pid into the cgroup (every hierarchy).
func (c *cgroup) addProc(pid int) error {
	for _, dir := range c.dirs {
		if err := writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// oomKilled reports whether the OOM killer killed a process of the cgroup.
func (c *cgroup) oomKilled() bool {
	if c == nil || c.memDir == "" {
		return false
	}
	file := "memory.oom_control"
	if c.version == 2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(c.memDir, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n > 0
		}
	}
	return false
}

// killAll sends SIGKILL to every process left in the cgroup.
func (c *cgroup) killAll() {
	if c == nil {
		return
	}
	for _, dir := range c.dirs {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// remove deletes the cgroup directories; a cgroup still holding processes
// stays (EBUSY) and is reported.
func (c *cgroup) remove() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, dir := range c.dirs {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
