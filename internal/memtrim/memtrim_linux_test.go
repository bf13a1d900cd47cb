package memtrim

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExecutableRanges_ReadOnlyMappingsOfTheFile(t *testing.T) {
	maps := []byte(`00400000-01a68000 r--p 00000000 fe:00 1234 /opt/skiff bin/skiff
01a68000-04335000 r-xp 01668000 fe:00 1234 /opt/skiff bin/skiff
076d5000-07809000 rw-p 072d5000 fe:00 1234 /opt/skiff bin/skiff
07809000-0985e000 rw-p 00000000 00:00 0
7f503c25a000-7f503c3b0000 r-xp 00028000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7fff0000-7ffe0000 r--p 00000000 fe:00 1234 /opt/skiff bin/skiff
`)
	got := executableRanges(maps, "/opt/skiff bin/skiff")
	want := []addrRange{{0x400000, 0x1a68000}, {0x1a68000, 0x4335000}}
	if len(got) != len(want) {
		t.Fatalf("ranges %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("range %d: %x, want %x", i, got[i], want[i])
		}
	}
}

// The test binary pages itself out, keeps running, and holds fewer file
// pages than before.
func TestPageOutExecutable_Self(t *testing.T) {
	before := rssFileKiB(t)
	n, err := pageOutExecutable()
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable found")
	}
	after := rssFileKiB(t)
	t.Logf("RssFile %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Errorf("RssFile did not shrink: %d KiB before, %d KiB after", before, after)
	}
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// WhenQuiet trims only after a second with few requests.
func TestWhenQuiet_WaitsForALull(t *testing.T) {
	var count atomic.Uint64
	busy := make(chan struct{})
	go func() { // a burst of requests for ~2.5 s
		deadline := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(deadline) {
			count.Add(5)
			time.Sleep(10 * time.Millisecond)
		}
		close(busy)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	WhenQuiet(ctx, slog.New(slog.DiscardHandler), count.Load)
	select {
	case <-busy:
	default:
		t.Fatalf("trimmed after %s, while requests were still coming", time.Since(start))
	}
	if ctx.Err() != nil {
		t.Fatal("no trim within 20 s of the burst's end")
	}
}
