package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// terminationMessage reads the message file (capped at
// MaxTerminationMessageLength) and, as upstream's kubelet does, falls back to
// the last MaxTerminationMessageLogLines lines of the log (keeping the last
// MaxTerminationMessageLogLength bytes) when the file is empty, fallback is
// asked for and the container failed.
func terminationMessage(ctx context.Context, file, logPath string, exitCode int32, fallback bool) (string, error) {
	var msg string
	if file != "" {
		f, err := os.Open(file)
		switch {
		case err == nil:
			b, rerr := io.ReadAll(io.LimitReader(f, MaxTerminationMessageLength))
			f.Close()
			if rerr != nil {
				return "", fmt.Errorf("reading termination message: %w", rerr)
			}
			msg = string(b)
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("reading termination message: %w", err)
		}
	}
	if msg != "" || !fallback || exitCode == 0 || logPath == "" {
		return msg, nil
	}
	return logTail(ctx, logPath)
}

// logTail returns the end of a log as the FallbackToLogsOnError message.
func logTail(ctx context.Context, logPath string) (string, error) {
	var buf tailBuffer
	buf.max = MaxTerminationMessageLogLength
	opts := LogOptions{TailLines: MaxTerminationMessageLogLines}
	if err := ReadLogFile(ctx, logPath, opts, &buf, nil); err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", nil
		}
		return "", fmt.Errorf("reading log tail: %w", err)
	}
	return buf.String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = bytes.Clone(t.b[over:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
