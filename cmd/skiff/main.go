// Command skiff is Skiff: a serverless batch Job service with the Kubernetes
// API. `skiff serve` runs the API server, controllers and node agent;
// `skiff kubectl` is the real kubectl; `skiff version` prints the version.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	crt "github.com/skiff-sh/skiff/internal/runtime"
	// Before kubectl's packages: a container init skips their translations.
	_ "github.com/skiff-sh/skiff/internal/runtime/initi18n"
)

func main() {
	// A re-executed container init (mount/UTS namespace set-up) must run
	// before anything else.
	crt.MaybeRunInit()
	ctx, stop := signalContext()
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once with status 1.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		os.Exit(1)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
