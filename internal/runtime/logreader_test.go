package runtime

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadLogFile(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "0.log")
	records := []struct {
		stream, content string
		partial         bool
	}{
		{streamStdout, "one", false}, {streamStderr, "two", false},
		{streamStdout, "thr", true}, {streamStdout, "ee", false}, {streamStdout, "", false},
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	lw := newLogWriter(f)
	for i, r := range records {
		at := base.Add(time.Duration(i) * time.Second)
		lw.now = func() time.Time { return at }
		if err := lw.writeRecord(r.stream, []byte(r.content), r.partial); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	tests := map[string]struct {
		opts LogOptions
		want string
	}{
		"everything":          {opts: LogOptions{TailLines: -1}, want: "one\ntwo\nthree\n\n"},
		"tail 2 file lines":   {opts: LogOptions{TailLines: 2}, want: "ee\n\n"},
		"tail 0":              {opts: LogOptions{TailLines: 0}, want: ""},
		"tail more than all":  {opts: LogOptions{TailLines: 100}, want: "one\ntwo\nthree\n\n"},
		"since":               {opts: LogOptions{TailLines: -1, Since: base.Add(time.Second)}, want: "two\nthree\n\n"},
		"limit bytes":         {opts: LogOptions{TailLines: -1, LimitBytes: 6}, want: "one\ntw"},
		"timestamps":          {opts: LogOptions{TailLines: 1, Timestamps: true}, want: "2026-01-02T03:04:09Z \n"},
		"timestamps and tail": {opts: LogOptions{TailLines: 4, Timestamps: true, LimitBytes: 25}, want: "2026-01-02T03:04:06Z two\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := ReadLogFile(context.Background(), path, tc.opts, &b, nil); err != nil {
				t.Fatalf("ReadLogFile: %v", err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("log mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogWriter_CopyStream_LongLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("y", maxLogLine+10)
	in := long + "\nshort\nno-newline"
	if err := newLogWriter(f).copyStream(streamStdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	raw, _ := os.ReadFile(path)
	if n := strings.Count(string(raw), " stdout P "); n != 1 {
		t.Errorf("%d partial records, want 1", n)
	}
	var b bytes.Buffer
	if err := ReadLogFile(context.Background(), path, LogOptions{TailLines: -1}, &b, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(long+"\nshort\nno-newline\n", b.String()); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestReadLogFile_FollowStopsWhenExited(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := WriteLogLine(path, streamStdout, time.Now(), "first"); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	out := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		_ = ReadLogFile(context.Background(), path, LogOptions{TailLines: -1, Follow: true}, &b, exited)
		out <- b.String()
	}()
	if err := WriteLogLine(path, streamStdout, time.Now(), "second"); err != nil {
		t.Fatal(err)
	}
	close(exited)
	select {
	case got := <-out:
		if got != "first\nsecond\n" {
			t.Errorf("followed %q, want both lines", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the container exited")
	}
}

func TestReadLogFile_Missing(t *testing.T) {
	t.Parallel()
	err := ReadLogFile(context.Background(), filepath.Join(t.TempDir(), "none.log"), LogOptions{}, &bytes.Buffer{}, nil)
	if !errorsIs(err, ErrNotFound) {
		t.Errorf("ReadLogFile of a missing file: %v, want ErrNotFound", err)
	}
}
