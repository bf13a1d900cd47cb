package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. The kernel reports
// these in USER_HZ, which is 100 on every Linux architecture's user ABI.
const userHZ = 100

// DefaultSampleInterval is the default time between /proc samples.
const DefaultSampleInterval = 100 * time.Millisecond

// ProcSamplerConfig configures StartProcSampler.
type ProcSamplerConfig struct {
	// PID is the process to sample. Required.
	PID int
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// Interval is the time between samples. Default 100ms.
	Interval time.Duration
}

// ProcStats summarizes a process's resource use over a sampling window.
type ProcStats struct {
	PID int `json:"pid"`
	// IdleRSSBytes is the resident set size at the start of the window,
	// before the scenario's load.
	IdleRSSBytes uint64 `json:"idle_rss_bytes"`
	// PeakRSSBytes is the largest RSS seen in any sample.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// FinalRSSBytes is the RSS at the end of the window.
	FinalRSSBytes uint64 `json:"final_rss_bytes"`
	// CPUSeconds is user+system CPU time spent during the window.
	CPUSeconds float64 `json:"cpu_seconds"`
	// WallSeconds is the length of the window.
	WallSeconds float64 `json:"wall_seconds"`
	// Samples is how many samples were taken.
	Samples int `json:"samples"`
}

// ProcSample is one reading of a process's RSS and cumulative CPU time.
type ProcSample struct {
	RSSBytes uint64
	// CPUTicks is utime+stime in USER_HZ ticks.
	CPUTicks uint64
}

// ReadProcSample reads /proc/PID/status (VmRSS) and /proc/PID/stat
// (utime, stime) under root.
func ReadProcSample(root string, pid int) (ProcSample, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("reading process status: %w", err)
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("reading process stat: %w", err)
	}
	ticks, err := parseCPUTicks(stat)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{RSSBytes: rss, CPUTicks: ticks}, nil
}

// parseVmRSS extracts VmRSS (reported in kB) from /proc/PID/status.
func parseVmRSS(status []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS in process status (a zombie or kernel thread?)")
}

// parseCPUTicks returns utime+stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) may contain spaces and parentheses, so fields
// are counted after its last ')'.
func parseCPUTicks(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed process stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("malformed process stat: %d fields after the command name", len(fields))
	}
	u, err := strconv.ParseUint(fields[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing utime: %w", err)
	}
	s, err := strconv.ParseUint(fields[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing stime: %w", err)
	}
	return u + s, nil
}

// ProcSampler samples a process in the background until Stop.
type ProcSampler struct {
	cfg   ProcSamplerConfig
	start time.Time
	first ProcSample

	mu    sync.Mutex // guards the fields below: written by the loop, read by Stop
	peak  uint64
	last  ProcSample
	count int

	cancel   context.CancelFunc
	finished chan struct{} // closed when the sampling goroutine exits
}

// StartProcSampler takes a first (idle) sample, failing if the process
// cannot be read, then samples every Interval until Stop or ctx is done.
func StartProcSampler(ctx context.Context, cfg ProcSamplerConfig) (*ProcSampler, error) {
	if cfg.PID <= 0 {
		return nil, fmt.Errorf("invalid pid %d", cfg.PID)
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSampleInterval
	}
	first, err := ReadProcSample(cfg.ProcRoot, cfg.PID)
	if err != nil {
		return nil, fmt.Errorf("sampling pid %d: %w", cfg.PID, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &ProcSampler{
		cfg: cfg, start: time.Now(), first: first,
		peak: first.RSSBytes, last: first, count: 1,
		cancel: cancel, finished: make(chan struct{}),
	}
	go s.loop(ctx)
	return s, nil
}

func (s *ProcSampler) loop(ctx context.Context) {
	defer close(s.finished)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

// sample takes one reading; a process that vanished keeps the last values.
func (s *ProcSampler) sample() {
	smp, err := ReadProcSample(s.cfg.ProcRoot, s.cfg.PID)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, smp.RSSBytes)
	s.last = smp
	s.count++
}

// Stop takes a final sample, ends sampling and returns the stats. It must
// be called once.
func (s *ProcSampler) Stop() ProcStats {
	s.cancel()
	<-s.finished
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return ProcStats{
		PID:           s.cfg.PID,
		IdleRSSBytes:  s.first.RSSBytes,
		PeakRSSBytes:  s.peak,
		FinalRSSBytes: s.last.RSSBytes,
		CPUSeconds:    float64(s.last.CPUTicks-s.first.CPUTicks) / userHZ,
		WallSeconds:   time.Since(s.start).Seconds(),
		Samples:       s.count,
	}
}

// summarySuffix renders the stats for a summary line, or "" for nil.
func (p *ProcStats) summarySuffix() string {
	if p == nil {
		return ""
	}
	const mib = 1 << 20
	return fmt.Sprintf("; server RSS idle %.1f MiB, peak %.1f MiB, CPU %.2f s",
		float64(p.IdleRSSBytes)/mib, float64(p.PeakRSSBytes)/mib, p.CPUSeconds)
}
