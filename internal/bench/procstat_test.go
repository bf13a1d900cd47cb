package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeProc writes a fake /proc/<pid>/{status,stat} under root.
func writeProc(t *testing.T, root string, pid int, rssKB, utime, stime uint64) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf("Name:\tskiff\nState:\tS (sleeping)\nVmPeak:\t  999999 kB\nVmRSS:\t  %d kB\nThreads:\t12\n", rssKB)
	// The command name holds spaces and a ')' to exercise field counting.
	stat := fmt.Sprintf("%d (sk iff) x) S 1 %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 12 0 100 1000 250 18446744073709551615\n",
		pid, pid, pid, utime, stime)
	for name, data := range map[string]string{"status": status, "stat": stat} {
		// Write then rename so a concurrent reader never sees a partial file.
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadProcSample_FakeProc(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeProc(t, root, 42, 2048, 150, 50)
	got, err := ReadProcSample(root, 42)
	if err != nil {
		t.Fatalf("ReadProcSample: %v", err)
	}
	if diff := cmp.Diff(ProcSample{RSSBytes: 2048 * 1024, CPUTicks: 200}, got); diff != "" {
		t.Errorf("sample (-want +got):\n%s", diff)
	}
}

func TestReadProcSample_Self(t *testing.T) {
	t.Parallel()
	got, err := ReadProcSample("/proc", os.Getpid())
	if err != nil {
		t.Skipf("no procfs here: %v", err)
	}
	if got.RSSBytes == 0 {
		t.Errorf("RSS of this test process is 0")
	}
}

func TestReadProcSample_Malformed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		status, stat string
	}{
		"missing VmRSS":         {status: "Name:\tx\n", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0\n"},
		"VmRSS without kB unit": {status: "VmRSS:\t12\n", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0\n"},
		"stat without command":  {status: "VmRSS:\t12 kB\n", stat: "1 x S 1\n"},
		"stat too short":        {status: "VmRSS:\t12 kB\n", stat: "1 (x) S 1 1\n"},
		"stat with bad utime":   {status: "VmRSS:\t12 kB\n", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 1 0 0\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			dir := filepath.Join(root, "7")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "status"), []byte(tc.status), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(tc.stat), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadProcSample(root, 7); err == nil {
				t.Error("ReadProcSample succeeded, want an error")
			}
		})
	}
}

func TestProcSampler_Stop_ReportsIdlePeakAndCPU(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeProc(t, root, 9, 1000, 100, 100)
	s, err := StartProcSampler(t.Context(), ProcSamplerConfig{PID: 9, ProcRoot: root, Interval: time.Millisecond})
	if err != nil {
		t.Fatalf("StartProcSampler: %v", err)
	}
	writeProc(t, root, 9, 5000, 300, 150)
	pollUntil(t, 10*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.peak == 5000*1024
	})
	writeProc(t, root, 9, 3000, 400, 150)
	got := s.Stop()
	got.WallSeconds = 0
	want := ProcStats{PID: 9, IdleRSSBytes: 1000 * 1024, PeakRSSBytes: 5000 * 1024, FinalRSSBytes: 3000 * 1024,
		CPUSeconds: 3.5, Samples: got.Samples}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stop (-want +got):\n%s", diff)
	}
	if got.Samples < 3 {
		t.Errorf("Samples = %d, want at least 3", got.Samples)
	}
}

func TestStartProcSampler_MissingProcess(t *testing.T) {
	t.Parallel()
	if _, err := StartProcSampler(t.Context(), ProcSamplerConfig{PID: 12345, ProcRoot: t.TempDir()}); err == nil {
		t.Error("StartProcSampler succeeded for a missing process")
	}
	if _, err := StartProcSampler(t.Context(), ProcSamplerConfig{PID: -1}); err == nil {
		t.Error("StartProcSampler accepted pid -1")
	}
}
