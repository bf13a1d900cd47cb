package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// containerState is what a container leaves on disk so that a later runtime
// (after a restart of skiff) can find, report and stop it.
type containerState struct {
	ID           ContainerID `json:"id"`
	PodNamespace string      `json:"podNamespace"`
	PodName      string      `json:"podName"`
	Image        string      `json:"image"`
	PID          int         `json:"pid"`
	// ProcStart is the process start time in clock ticks (/proc/<pid>/stat
	// field 22), telling our process from a later one that reused the PID.
	ProcStart uint64    `json:"procStart"`
	StartedAt time.Time `json:"startedAt"`
	LogPath   string    `json:"logPath"`
	TermLog   string    `json:"termLog,omitempty"`
	Cgroups   []string  `json:"cgroups,omitempty"`
}

const (
	stateFile = "state.json"
	exitFile  = "exit.json"
)

func (p *Process) saveState(c *container) error {
	st := containerState{
		ID: c.id, PodNamespace: c.podNS, PodName: c.podName, Image: c.image, PID: c.pid,
		ProcStart: procStartTime(c.pid), StartedAt: c.startedAt, LogPath: c.logPath, TermLog: c.termLog,
	}
	if c.cg != nil {
		st.Cgroups = c.cg.dirs
	}
	return writeJSON(filepath.Join(c.dir, stateFile), st)
}

func (p *Process) saveExit(c *container) error {
	return writeJSON(filepath.Join(c.dir, exitFile), c.exit)
}

// writeJSON writes v atomically (temp file + rename).
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// procStartTime returns field 22 of /proc/<pid>/stat, 0 if unreadable.
func procStartTime(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command (field 2) may contain spaces; fields after it follow ") ".
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

// recover loads the containers a previous run left in the data directory.
// Finished ones keep their exit status; live ones are watched (Recovered) so
// they can be stopped; vanished ones end with ContainerStatusUnknown.
func (p *Process) recover() {
	paths, _ := filepath.Glob(filepath.Join(p.dir, "pods", "*", "containers", "*", stateFile))
	for _, path := range paths {
		c, err := p.loadContainer(filepath.Dir(path))
		if err != nil {
			p.logger.Warn("skipping unreadable container state", "path", path, "err", err)
			continue
		}
		p.containers[c.id] = c
		if !c.exited() {
			p.wg.Add(1)
			go p.watchRecovered(c)
		}
	}
}

func (p *Process) loadContainer(dir string) (*container, error) {
	var st containerState
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	podUID, name, attempt, err := ParseContainerID(st.ID)
	if err != nil {
		return nil, err
	}
	c := &container{
		id: st.ID, podUID: podUID, podNS: st.PodNamespace, podName: st.PodName, name: name,
		attempt: attempt, image: st.Image, dir: dir, logPath: st.LogPath, termLog: st.TermLog,
		pid: st.PID, startedAt: st.StartedAt, recovered: true, done: make(chan struct{}),
	}
	if len(st.Cgroups) > 0 {
		c.cg = &cgroup{dirs: st.Cgroups}
	}
	if data, err := os.ReadFile(filepath.Join(dir, exitFile)); err == nil {
		if err := json.Unmarshal(data, &c.exit); err != nil {
			return nil, fmt.Errorf("reading exit status: %w", err)
		}
		close(c.done)
		return c, nil
	}
	if st.ProcStart == 0 || procStartTime(st.PID) != st.ProcStart {
		p.finishRecovered(c)
	}
	return c, nil
}

// recoveredPoll is how often a recovered (non-child) process is checked.
const recoveredPoll = 200 * time.Millisecond

// watchRecovered polls a process that is not our child until it is gone.
func (p *Process) watchRecovered(c *container) {
	defer p.wg.Done()
	start := procStartTime(c.pid)
	t := time.NewTicker(recoveredPoll)
	defer t.Stop()
	for procStartTime(c.pid) == start && start != 0 {
		select {
		case <-p.stopRecovered:
			return
		case <-t.C:
		}
	}
	p.finishRecovered(c)
}

// finishRecovered ends a recovered container whose exit code is unknowable.
func (p *Process) finishRecovered(c *container) {
	c.mu.Lock()
	killed := c.killed
	c.mu.Unlock()
	c.exit = ExitStatus{
		ExitCode: 137, Reason: ReasonContainerStatusUnknown, StartedAt: c.startedAt, FinishedAt: time.Now(),
		Message: "The container could not be located when the pod was terminated",
	}
	if killed {
		c.exit.Signal, c.exit.Reason, c.exit.Message = int(syscall.SIGKILL), ReasonError, ""
	}
	if err := c.cg.remove(); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.logger.Warn("removing cgroup", "container", c.id, "err", err)
	}
	if err := p.saveExit(c); err != nil {
		p.logger.Warn("saving container exit", "container", c.id, "err", err)
	}
	close(c.done)
}
