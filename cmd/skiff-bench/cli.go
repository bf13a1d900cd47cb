package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/internal/bench"
)

// scenarioOrder is the order "all" runs scenarios in.
func scenarioOrder() []string {
	return []string{"crud", "cascade", "lifecycle", "watch", "list"}
}

// options holds the parsed flags.
type options struct {
	kubeconfig     string
	context        string
	workers        int
	n              int
	duration       time.Duration
	output         string
	contentType    string
	serverPID      int
	timeout        time.Duration
	cleanupTimeout time.Duration
	image          string
	command        []string
	quiet          bool
	logLevel       string
	procs          int

	pods        int
	jobs        int
	rate        float64
	fakeNode    bool
	nodeName    string
	propagation string
	waitRunning bool
	watchers    int
	kind        string
	pageSize    int
	repeat      int
}

// scenarioFunc runs one scenario with the flags and the shared config.
type scenarioFunc func(ctx context.Context, o *options, c bench.Common) (bench.Result, error)

// defaultScenarios maps scenario names to the library's Run functions.
func defaultScenarios() map[string]scenarioFunc {
	return map[string]scenarioFunc{
		"crud": func(ctx context.Context, o *options, c bench.Common) (bench.Result, error) {
			return bench.RunCRUD(ctx, o.crudConfig(c))
		},
		"cascade": func(ctx context.Context, o *options, c bench.Common) (bench.Result, error) {
			return bench.RunCascade(ctx, o.cascadeConfig(c))
		},
		"lifecycle": func(ctx context.Context, o *options, c bench.Common) (bench.Result, error) {
			return bench.RunLifecycle(ctx, o.lifecycleConfig(c))
		},
		"watch": func(ctx context.Context, o *options, c bench.Common) (bench.Result, error) {
			return bench.RunWatch(ctx, o.watchConfig(c))
		},
		"list": func(ctx context.Context, o *options, c bench.Common) (bench.Result, error) {
			return bench.RunList(ctx, o.listConfig(c))
		},
	}
}

func (o *options) crudConfig(c bench.Common) bench.CRUDConfig {
	return bench.CRUDConfig{Common: c, Workers: o.workers, N: o.n, Duration: o.duration}
}

func (o *options) cascadeConfig(c bench.Common) bench.CascadeConfig {
	return bench.CascadeConfig{Common: c, Pods: firstNonZero(o.pods, o.n),
		Propagation: metav1.DeletionPropagation(o.propagation), Command: o.command, WaitRunning: o.waitRunning}
}

func (o *options) lifecycleConfig(c bench.Common) bench.LifecycleConfig {
	return bench.LifecycleConfig{Common: c, Jobs: firstNonZero(o.jobs, o.n), Pods: o.pods, Rate: o.rate,
		Workers: o.workers, FakeNode: o.fakeNode, NodeName: o.nodeName, Command: o.command}
}

func (o *options) watchConfig(c bench.Common) bench.WatchConfig {
	return bench.WatchConfig{Common: c, Watchers: o.watchers, Writers: o.workers, N: o.n, Duration: o.duration}
}

func (o *options) listConfig(c bench.Common) bench.ListConfig {
	return bench.ListConfig{Common: c, N: o.n, Kind: o.kind, Workers: o.workers, Repeat: o.repeat, PageSize: o.pageSize}
}

func firstNonZero(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

const longHelp = `skiff-bench measures a Kubernetes API server (Skiff or any other) through its
public API, using the kubeconfig given. Each scenario works in a fresh namespace
skiff-bench-<scenario>-<random>, verifies what it measures, and deletes the
namespace at the end.

Scenarios ("all" runs every one in this order):
  crud       --workers W create and delete suspended Jobs for --n pairs (default
             1000) or --duration; ops/s and latency per verb.
  cascade    a Job with --pods P pods (default 100; --n also sets P); time until
             all exist, then DELETE with --propagation and time until the Job
             and every Pod are gone (Orphan: until no Pod references the Job).
             --wait-running deletes only once every Pod is Running.
  lifecycle  --jobs J (default 10; --n also sets J) Jobs of --pods P (default 10)
             Pods, created at --rate Jobs/s; time from create to Complete.
             --fake-node registers a Node and plays its kubelet.
  watch      --watchers K watches while --workers writers make --n changes
             (default 1000) or write for --duration; delivery latency, lost and
             out-of-order events (must be 0).
  list       store --n objects (default 10000) of --kind, then time full and
             paginated (--page-size) lists --repeat times.

Progress goes to stderr; stdout gets one summary line per scenario, or with
-o json one JSON object per scenario and line. The exit code is 1 when a
scenario fails its checks or cannot run.`

// setMaxProcs sets GOMAXPROCS and returns the previous value; tests
// replace it, since the setting is the whole process's.
var setMaxProcs = runtime.GOMAXPROCS

// newRootCommand builds the CLI. scenarios is injectable for tests.
func newRootCommand(stdout, stderr io.Writer, scenarios map[string]scenarioFunc) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:           "skiff-bench SCENARIO... --kubeconfig PATH [flags]",
		Short:         "Benchmark a Kubernetes API server: crud, cascade, lifecycle, watch, list",
		Long:          longHelp,
		Args:          cobra.MinimumNArgs(1),
		ValidArgs:     append(scenarioOrder(), "all"),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), o, args, stdout, stderr, scenarios)
		},
	}
	addFlags(cmd, o)
	return cmd
}

func addFlags(cmd *cobra.Command, o *options) {
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context to use (default: the current context)")
	f.IntVar(&o.workers, "workers", 0, "concurrent workers: crud workers, watch writers, list/lifecycle creators (0: scenario default)")
	f.IntVar(&o.n, "n", 0, "size: crud pairs, watch changes, list objects, cascade pods, lifecycle jobs (0: scenario default)")
	f.DurationVar(&o.duration, "duration", 0, "run crud or watch for this long instead of (or capped by) --n")
	f.StringVarP(&o.output, "output", "o", "", `output format: "" for human text or "json"`)
	f.StringVar(&o.contentType, "content-type", bench.ContentTypeProtobuf, "wire encoding: protobuf or json")
	f.IntVar(&o.serverPID, "server-pid", 0, "pid of the API server on this machine: report its idle/peak RSS and CPU from /proc")
	f.DurationVar(&o.timeout, "timeout", bench.DefaultTimeout, "bound on each wait for the server (pods, completions, events)")
	f.DurationVar(&o.cleanupTimeout, "cleanup-timeout", bench.DefaultCleanupTimeout, "bound on deleting the scenario's namespace")
	f.StringVar(&o.image, "image", bench.DefaultImage, "container image of created Pods")
	f.StringArrayVar(&o.command, "command", nil, "lifecycle, cascade: the Pods' command, one --command per word, e.g. --command sh --command -c --command 'exit 0' (default: the scenario's)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no progress lines")
	f.StringVar(&o.logLevel, "log-level", "warn", "diagnostics on stderr: debug, info, warn or error")
	f.IntVar(&o.procs, "procs", 1, "OS threads running the client's goroutines at once (GOMAXPROCS); 0: Go's default")
	f.IntVar(&o.pods, "pods", 0, "cascade: pods of the Job (default 100); lifecycle: pods per Job (default 10)")
	f.IntVar(&o.jobs, "jobs", 0, "lifecycle: number of Jobs (default 10)")
	f.Float64Var(&o.rate, "rate", 0, "lifecycle: Jobs created per second (0: as fast as possible)")
	f.BoolVar(&o.fakeNode, "fake-node", false, "lifecycle: register a Node and play its kubelet (for servers without nodes)")
	f.StringVar(&o.nodeName, "node-name", "", "lifecycle: name of the fake node (default skiff-bench-fake-<random>)")
	f.StringVar(&o.propagation, "propagation", string(metav1.DeletePropagationBackground), "cascade: Background, Foreground or Orphan")
	f.BoolVar(&o.waitRunning, "wait-running", false, "cascade: send the DELETE once every Pod is Running, not as soon as all exist")
	f.IntVar(&o.watchers, "watchers", 0, "watch: concurrent watchers (default 10)")
	f.StringVar(&o.kind, "kind", bench.ListKindConfigMap, "list: objects to store: configmap or job")
	f.IntVar(&o.pageSize, "page-size", 0, "list: limit per page of the paginated list (default 500)")
	f.IntVar(&o.repeat, "repeat", 0, "list: measurements of each list (default 10)")
}

// expandScenarios validates the positional arguments and expands "all".
func expandScenarios(args []string, known map[string]scenarioFunc) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "all" {
			out = append(out, scenarioOrder()...)
			continue
		}
		if _, ok := known[a]; !ok {
			return nil, fmt.Errorf("unknown scenario %q: want one of %s or all", a, strings.Join(scenarioOrder(), ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

// common builds the shared config from the flags.
func (o *options) common(stderr io.Writer) (bench.Common, error) {
	if o.output != "" && o.output != "json" {
		return bench.Common{}, fmt.Errorf(`unsupported output %q: want "" or "json"`, o.output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return bench.Common{}, fmt.Errorf("parsing --log-level: %w", err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: o.context}).ClientConfig()
	if err != nil {
		return bench.Common{}, fmt.Errorf("loading kubeconfig: %w", err)
	}
	c := bench.Common{
		RestConfig:     rc,
		ContentType:    o.contentType,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		ServerPID:      o.serverPID,
		Image:          o.image,
		Timeout:        o.timeout,
		CleanupTimeout: o.cleanupTimeout,
	}
	if !o.quiet {
		c.Progress = stderr
	}
	return c, nil
}

// run runs the scenarios in order, printing each one's summary as it ends.
// It goes on after a scenario fails and reports all failures at the end.
func run(ctx context.Context, o *options, args []string, stdout, stderr io.Writer, scenarios map[string]scenarioFunc) error {
	names, err := expandScenarios(args, scenarios)
	if err != nil {
		return err
	}
	c, err := o.common(stderr)
	if err != nil {
		return err
	}
	if o.procs < 0 {
		return fmt.Errorf("--procs must not be negative, got %d", o.procs)
	}
	if o.procs > 0 {
		// The client shares the machine with the server it measures (the
		// targets assume both on two cores). Its goroutines spend most of
		// their time waiting on the server, and on a second thread they
		// cost more CPU in wake-ups than they gain: the crud scenario ran
		// 8 - 10 % faster with one (docs/benchmarks.md).
		defer setMaxProcs(setMaxProcs(o.procs))
	}
	var failed []string
	for _, name := range names {
		res, err := scenarios[name](ctx, o, c)
		var verr *bench.VerificationError
		if err != nil && !errors.As(err, &verr) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			failed = append(failed, name)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if err := printResult(stdout, o.output, res); err != nil {
			return err
		}
		if verr != nil {
			for _, f := range verr.Failures {
				fmt.Fprintf(stderr, "%s: FAILED: %s\n", name, f)
			}
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// printResult writes the summary line, or the result as one JSON line.
func printResult(w io.Writer, output string, res bench.Result) error {
	if output == "json" {
		if err := json.NewEncoder(w).Encode(res); err != nil {
			return fmt.Errorf("writing json: %w", err)
		}
		return nil
	}
	_, err := fmt.Fprintln(w, res.Summary())
	return err
}
