package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// followPoll is how often a followed log file is checked for new data.
const followPoll = 50 * time.Millisecond

// errLimitReached stops reading once LimitBytes have been written.
var errLimitReached = errors.New("log byte limit reached")

// ReadLogFile writes the CRI-format log at path to w as selected by opts
// (upstream kubelet ReadLogs semantics). With opts.Follow it keeps reading
// until exited is closed (then drains what is left) or ctx ends; a nil exited
// never closes. It returns nil when the limit is reached or ctx ends while
// following.
func ReadLogFile(ctx context.Context, path string, opts LogOptions, w io.Writer, exited <-chan struct{}) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: log file %s", ErrNotFound, path)
		}
		return fmt.Errorf("opening log: %w", err)
	}
	defer f.Close()
	if opts.TailLines >= 0 {
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("seeking log tail: %w", err)
		}
		off, err := tailOffset(f, st.Size(), opts.TailLines)
		if err != nil {
			return fmt.Errorf("seeking log tail: %w", err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("seeking log tail: %w", err)
		}
	}
	err = copyLog(ctx, f, opts, &limitWriter{w: w, limit: opts.LimitBytes}, exited)
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// copyLog streams records from r to w; see ReadLogFile.
func copyLog(ctx context.Context, r io.Reader, opts LogOptions, w io.Writer, exited <-chan struct{}) error {
	br := bufio.NewReaderSize(r, maxLogLine+256)
	var pending []byte
	draining := false
	var ticker *time.Ticker
	for {
		chunk, err := br.ReadBytes('\n')
		pending = append(pending, chunk...)
		if err == nil {
			if werr := writeRecordTo(w, pending, opts); werr != nil {
				return werr
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading log: %w", err)
		}
		if !opts.Follow || draining {
			if len(pending) > 0 {
				return writeRecordTo(w, pending, opts)
			}
			return nil
		}
		if ticker == nil {
			ticker = time.NewTicker(followPoll)
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			draining = true
		case <-ticker.C:
		}
	}
}

// writeRecordTo parses one CRI record and writes its content to w if it
// passes the Since filter. Malformed records are skipped.
func writeRecordTo(w io.Writer, rec []byte, opts LogOptions) error {
	ts, content, full, ok := parseCRIRecord(rec)
	if !ok {
		return nil
	}
	if !opts.Since.IsZero() && ts.Before(opts.Since) {
		return nil
	}
	var out []byte
	if opts.Timestamps {
		out = ts.AppendFormat(out, criTimeFormat)
		out = append(out, ' ')
	}
	out = append(out, content...)
	if full {
		out = append(out, '\n')
	}
	_, err := w.Write(out)
	return err
}

// parseCRIRecord splits "<time> <stream> <P|F> <content>[\n]".
func parseCRIRecord(rec []byte) (ts time.Time, content []byte, full, ok bool) {
	rec = bytes.TrimSuffix(rec, []byte{'\n'})
	tsEnd := bytes.IndexByte(rec, ' ')
	if tsEnd < 0 {
		return ts, nil, false, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(rec[:tsEnd]))
	if err != nil {
		return ts, nil, false, false
	}
	rest := rec[tsEnd+1:]
	streamEnd := bytes.IndexByte(rest, ' ')
	if streamEnd < 0 {
		return ts, nil, false, false
	}
	rest = rest[streamEnd+1:]
	if len(rest) < 1 || (rest[0] != 'F' && rest[0] != 'P') {
		return ts, nil, false, false
	}
	full = rest[0] == 'F'
	content = rest[1:]
	if len(content) > 0 && content[0] == ' ' {
		content = content[1:]
	}
	return ts, content, full, true
}

// tailOffset returns the offset where the last n lines of f (size bytes) start.
func tailOffset(f io.ReaderAt, size, n int64) (int64, error) {
	if n == 0 {
		return size, nil
	}
	const block = 4096
	buf := make([]byte, block)
	end := size // exclusive end of the region still to scan
	var count int64
	skipLast := true // the newline ending the last line does not start a line
	for end > 0 {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast {
				skipLast = false
				continue
			}
			count++
			if count == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// limitWriter writes at most limit bytes (no limit when limit <= 0) and then
// reports errLimitReached.
type limitWriter struct {
	w       io.Writer
	limit   int64
	written int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.limit <= 0 {
		return l.w.Write(p)
	}
	left := l.limit - l.written
	if int64(len(p)) < left {
		n, err := l.w.Write(p)
		l.written += int64(n)
		return n, err
	}
	n, err := l.w.Write(p[:left])
	l.written += int64(n)
	if err != nil {
		return n, err
	}
	return n, errLimitReached
}
