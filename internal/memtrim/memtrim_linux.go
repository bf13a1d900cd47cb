package memtrim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutExecutable advises every read-only mapping of the executable file
// MADV_RANDOM (no read-ahead, so a later fault reads one small page rather
// than a large folio) and then MADV_PAGEOUT (reclaim what is resident; the
// pages are clean file pages, so nothing is written). It returns how many
// mappings it advised.
func pageOutExecutable() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading the memory map: %w", err)
	}
	// A binary written moments ago (go run, a fresh build) still has dirty
	// pages in the page cache, which the kernel will not page out: flush
	// them first. The kernel would write them within half a minute anyway.
	if err := syncFile("/proc/self/exe"); err != nil {
		return 0, err
	}
	ranges := executableRanges(maps, exe)
	for _, r := range ranges {
		if err := madvise(r, unix.MADV_RANDOM); err != nil {
			return 0, err
		}
		if err := madvise(r, unix.MADV_PAGEOUT); err != nil {
			return 0, err
		}
	}
	return len(ranges), nil
}

type addrRange struct{ start, end uintptr }

// executableRanges returns the read-only mappings of file exe in a
// /proc/PID/maps listing. Writable mappings (the binary's data) are private
// copies, not file pages, and are left alone.
func executableRanges(maps []byte, exe string) []addrRange {
	var out []addrRange
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			continue
		}
		out = append(out, addrRange{uintptr(s), uintptr(e)})
	}
	return out
}

// madvise is the raw system call: the ranges are not Go memory, so there is
// no []byte to hand to unix.Madvise.
func madvise(r addrRange, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise(%#x-%#x, %d): %w", r.start, r.end, advice, errno)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the executable: %w", err)
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("flushing the executable's pages: %w", err)
	}
	return nil
}
