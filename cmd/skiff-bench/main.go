// Command skiff-bench measures a Kubernetes API server, Skiff or any other,
// through its public API only. See `skiff-bench --help`.
//
//	skiff-bench crud --kubeconfig /var/lib/skiff/admin.kubeconfig --workers 10 --n 1000
//	skiff-bench cascade --kubeconfig k.yaml --pods 100 --propagation Foreground -o json
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// The first SIGINT/SIGTERM cancels the run (scenarios still clean up);
	// a second one exits at once.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigc
		cancel()
		<-sigc
		os.Exit(1)
	}()

	cmd := newRootCommand(os.Stdout, os.Stderr, defaultScenarios())
	err := cmd.ExecuteContext(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "skiff-bench: %v\n", err)
		os.Exit(1)
	}
}
