package runtime

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// pollOutput waits until buf holds want (or fails after 10 s).
func pollOutput(t *testing.T, buf *lockedBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(buf.String(), want) {
			return
		}
	}
	t.Fatalf("output %q never contained %q", buf.String(), want)
}

// StdinOnce: an attached client's input reaches the workload, whose output
// comes back; the end of that input closes the workload's, and Attach ends
// with the container.
func TestProcess_Attach_StdinOnce(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("cat", "echo", "input closed"), Stdin: true, StdinOnce: true})
	var stdout lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Attach(ctx, id, ExecIO{Stdin: strings.NewReader("hello\n"), Stdout: &stdout}); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if got := stdout.String(); got != "hello\ninput closed\n" {
		t.Errorf("attached output = %q, want the input back, then the end", got)
	}
	st, err := p.Wait(ctx, id)
	if err != nil || st.ExitCode != 0 {
		t.Errorf("Wait = %+v, %v; want the workload done", st, err)
	}
}

// A client gets the output written while it is attached, stderr apart, and
// a later client only what comes after it attached; without StdinOnce the
// input stays open between them.
func TestProcess_Attach_OutputFromNowOn(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("stderr", "started", "cat"), Stdin: true})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var logs strings.Builder
		if err := p.Logs(context.Background(), id, LogOptions{TailLines: -1}, &logs); err == nil && strings.Contains(logs.String(), "started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workload never logged its start")
		}
	}
	attach := func(input string, stdout, stderr io.Writer) {
		in, feed := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Attach(ctx, id, ExecIO{Stdin: in, Stdout: stdout, Stderr: stderr}) }()
		// Attach registers the client before it reads input, so whatever
		// the input causes reaches it.
		if _, err := feed.Write([]byte(input)); err != nil {
			t.Fatal(err)
		}
		pollOutput(t, stdout.(*lockedBuffer), input)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Attach: %v", err)
		}
		_ = in.Close()
	}
	var out1, err1, out2, err2 lockedBuffer
	attach("first\n", &out1, &err1)
	attach("second\n", &out2, &err2)
	if out1.String() != "first\n" || out2.String() != "second\n" {
		t.Errorf("outputs = %q, %q; want each client's own", out1.String(), out2.String())
	}
	if err1.String() != "" || err2.String() != "" {
		t.Errorf("stderr = %q, %q; want nothing (it was written before either attached)", err1.String(), err2.String())
	}
}

// With a TTY the workload runs on a terminal that the client sizes, and its
// output comes as one stream.
func TestProcess_Attach_Terminal(t *testing.T) {
	t.Parallel()
	p := newProcessRuntime(t, ProcessConfig{})
	id := startWaiting(t, p, ContainerSpec{Image: "example.com/app", Command: testTask("winsize", "30x100", "stderr", "on the terminal"), TTY: true, Stdin: true})
	var stdout, stderr lockedBuffer
	resize := make(chan TerminalSize, 1)
	resize <- TerminalSize{Width: 100, Height: 30}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Attach(ctx, id, ExecIO{Stdout: &stdout, Stderr: &stderr, TTY: true, Resize: resize}); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if got := stdout.String(); !strings.Contains(got, "tty 30x100\r\non the terminal\r\n") {
		t.Errorf("terminal output = %q", got)
	}
	if stderr.String() != "" {
		t.Errorf("stderr = %q, want nothing apart from the terminal", stderr.String())
	}
	var logs strings.Builder
	if err := p.Logs(ctx, id, LogOptions{TailLines: -1}, &logs); err != nil || !strings.Contains(logs.String(), "on the terminal") {
		t.Errorf("log = %q, %v; want the terminal's output", logs.String(), err)
	}
}
