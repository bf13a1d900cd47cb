package runtime

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// CRI log format: "<RFC3339Nano time> <stream> <P|F> <content>\n", as written
// by containerd and read by the kubelet. A line longer than maxLogLine is split
// into partial (P) records followed by a full (F) one.
const (
	criTimeFormat = "2006-01-02T15:04:05.999999999Z07:00"
	maxLogLine    = 16 * 1024
	streamStdout  = "stdout"
	streamStderr  = "stderr"
)

// logWriter appends CRI records from a container's stdout and stderr to one
// file. mu serialises the two stream copiers so records never interleave.
type logWriter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte // reused record buffer, guarded by mu
	now func() time.Time
}

func newLogWriter(f *os.File) *logWriter {
	return &logWriter{f: f, now: time.Now}
}

// writeRecord writes one CRI record; partial marks a P record.
func (l *logWriter) writeRecord(stream string, content []byte, partial bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	tag := " F "
	if partial {
		tag = " P "
	}
	b := l.now().UTC().AppendFormat(l.buf[:0], criTimeFormat)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, tag...)
	b = append(b, content...)
	b = append(b, '\n')
	l.buf = b
	_, err := l.f.Write(b)
	return err
}

// copyStream copies r into the log until EOF. A final line without newline
// is written as a full record.
func (l *logWriter) copyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := l.writeRecord(stream, line[:len(line)-1], false); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := l.writeRecord(stream, line, true); werr != nil {
				return werr
			}
		default:
			if len(line) > 0 {
				if werr := l.writeRecord(stream, line, false); werr != nil {
					return werr
				}
			}
			// A terminal's controlling side answers EIO once the last
			// process holding the terminal has closed it: its end of file.
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO) {
				return nil
			}
			return err
		}
	}
}

// WriteLogLine appends one full CRI record to the log file at path; the fake
// runtime and tests use it.
func WriteLogLine(path, stream string, t time.Time, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	lw := &logWriter{f: f, now: func() time.Time { return t }}
	werr := lw.writeRecord(stream, []byte(content), false)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
