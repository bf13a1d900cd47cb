package runtime

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// testTaskArg makes the test binary a fake workload (as nomad's testtask):
// "<test binary> __testtask__ action args... [action args...]". Actions:
//
//	exit N              exit with N
//	sleep D             sleep for duration D
//	trap-term D         on SIGTERM, wait D, then exit 143
//	ignore-term         ignore SIGTERM
//	echo S / stderr S   write S and a newline to stdout / stderr
//	env K               print K=$K
//	pwd / hostname      print the working directory / hostname
//	ids                 print "uid gid"
//	write P S           write S to file P
//	alloc MB            allocate and touch MB mebibytes
//	cat                 copy stdin to stdout until its end
//	winsize RxC         wait (up to 10 s) until the terminal on stdin is R
//	                    rows by C columns, then print "tty RxC" (the size
//	                    it has then, "not a tty" without one)
//	ttyname             print "terminal found" when stdin's device exists
//	                    under its name (as ttyname(3) checks), else its name
//	wait                block until killed
const testTaskArg = "__testtask__"

func TestMain(m *testing.M) {
	MaybeRunInit()
	if len(os.Args) > 1 && os.Args[1] == testTaskArg {
		os.Exit(runTestTask(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testTask returns the command running the test binary with actions.
func testTask(actions ...string) []string {
	exe, err := os.Executable()
	if err != nil {
		panic(err) // test setup only
	}
	return append([]string{exe, testTaskArg}, actions...)
}

func runTestTask(args []string) int {
	for len(args) > 0 {
		op := args[0]
		arg := ""
		if len(args) > 1 {
			arg = args[1]
		}
		n, err := testTaskStep(op, arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testtask:", err)
			return 99
		}
		if n < 0 {
			return -n - 1
		}
		args = args[n:]
	}
	return 0
}

// testTaskStep runs one action; it returns how many args it used, or
// -(code+1) to exit with code.
func testTaskStep(op, arg string) (int, error) {
	switch op {
	case "exit":
		code, err := strconv.Atoi(arg)
		return -(code + 1), err
	case "sleep":
		d, err := time.ParseDuration(arg)
		time.Sleep(d)
		return 2, err
	case "trap-term":
		d, err := time.ParseDuration(arg)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		go func() { <-ch; time.Sleep(d); fmt.Println("graceful"); os.Exit(143) }()
		return 2, err
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		return 1, nil
	case "echo":
		fmt.Println(arg)
		return 2, nil
	case "stderr":
		fmt.Fprintln(os.Stderr, arg)
		return 2, nil
	case "env":
		fmt.Printf("%s=%s\n", arg, os.Getenv(arg))
		return 2, nil
	case "pwd":
		wd, err := os.Getwd()
		fmt.Println(wd)
		return 1, err
	case "hostname":
		h, err := os.Hostname()
		fmt.Println(h)
		return 1, err
	case "ids":
		fmt.Println(os.Getuid(), os.Getgid())
		return 1, nil
	case "wait":
		for {
			time.Sleep(time.Hour)
		}
	}
	return testTaskStep2(op, arg)
}

func testTaskStep2(op, arg string) (int, error) {
	switch op {
	case "write":
		path, content, _ := strings.Cut(arg, "=")
		return 2, os.WriteFile(path, []byte(content), 0o644)
	case "alloc":
		mb, err := strconv.Atoi(arg)
		if err != nil {
			return 0, err
		}
		var keep [][]byte
		for range mb {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
		return 2, nil
	case "cat":
		_, err := io.Copy(os.Stdout, os.Stdin)
		return 1, err
	case "winsize":
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			rows, cols, err := pty.Getsize(os.Stdin)
			if err != nil {
				fmt.Println("not a tty")
				return 2, nil
			}
			if got = fmt.Sprintf("%dx%d", rows, cols); got == arg {
				break
			}
		}
		fmt.Println("tty", got)
		return 2, nil
	case "ttyname":
		name, err := os.Readlink("/proc/self/fd/0")
		if err != nil {
			return 1, err
		}
		if _, err := os.Stat(name); err != nil {
			fmt.Println("no device at", name)
			return 1, nil
		}
		fmt.Println("terminal found")
		return 1, nil
	}
	return 0, fmt.Errorf("unknown action %q", op)
}
