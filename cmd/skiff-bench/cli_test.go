package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/skiff-sh/skiff/internal/bench"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: secret}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorded is what a stub scenario saw.
type recorded struct {
	names   []string
	configs []any
}

// stubScenarios returns scenarios that record the config the flags build
// and return canned results; fail names scenarios that fail verification.
func stubScenarios(rec *recorded, fail map[string]bool) map[string]scenarioFunc {
	result := func(name string, cfg any, res bench.Result) (bench.Result, error) {
		rec.names = append(rec.names, name)
		rec.configs = append(rec.configs, cfg)
		if fail[name] {
			return res, &bench.VerificationError{Scenario: name, Failures: []string{"2 events lost"}}
		}
		return res, nil
	}
	return map[string]scenarioFunc{
		"crud": func(_ context.Context, o *options, c bench.Common) (bench.Result, error) {
			return result("crud", o.crudConfig(c), bench.CRUDResult{Scenario: "crud", OpsPerSecond: 4123,
				Create: bench.LatencySummary{P99Ms: 9.1}, Delete: bench.LatencySummary{P99Ms: 8.7}})
		},
		"cascade": func(_ context.Context, o *options, c bench.Common) (bench.Result, error) {
			return result("cascade", o.cascadeConfig(c), bench.CascadeResult{Scenario: "cascade", Propagation: "Foreground", Pods: 5})
		},
		"lifecycle": func(_ context.Context, o *options, c bench.Common) (bench.Result, error) {
			return result("lifecycle", o.lifecycleConfig(c), bench.LifecycleResult{Scenario: "lifecycle"})
		},
		"watch": func(_ context.Context, o *options, c bench.Common) (bench.Result, error) {
			return result("watch", o.watchConfig(c), bench.WatchResult{Scenario: "watch", Lost: 2})
		},
		"list": func(_ context.Context, o *options, c bench.Common) (bench.Result, error) {
			return result("list", o.listConfig(c), bench.ListResult{Scenario: "list"})
		},
	}
}

func execute(t *testing.T, rec *recorded, fail map[string]bool, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut, stubScenarios(rec, fail))
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// procsCalls records the GOMAXPROCS values run asked for, so that tests do
// not change the test binary's own.
var procsCalls struct {
	sync.Mutex
	values []int
}

func TestMain(m *testing.M) {
	setMaxProcs = func(n int) int {
		procsCalls.Lock()
		defer procsCalls.Unlock()
		procsCalls.values = append(procsCalls.values, n)
		return 100 + n // a "previous" value the restore must hand back
	}
	os.Exit(m.Run())
}

// TestRootCommand_Procs is not parallel: it reads every call made.
func TestRootCommand_Procs(t *testing.T) {
	kc := writeKubeconfig(t)
	tests := map[string]struct {
		args      []string
		want      []int
		wantError bool
	}{
		"one thread by default, restored after": {args: []string{"crud", "--kubeconfig", kc, "-q"}, want: []int{1, 101}},
		"--procs sets the threads":              {args: []string{"crud", "--kubeconfig", kc, "-q", "--procs", "3"}, want: []int{3, 103}},
		"--procs 0 leaves Go's default":         {args: []string{"crud", "--kubeconfig", kc, "-q", "--procs", "0"}},
		"a negative --procs is rejected":        {args: []string{"crud", "--kubeconfig", kc, "--procs", "-1"}, wantError: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			procsCalls.Lock()
			procsCalls.values = nil
			procsCalls.Unlock()
			var rec recorded
			_, _, err := execute(t, &rec, nil, tc.args...)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v, wantError %t", err, tc.wantError)
			}
			procsCalls.Lock()
			defer procsCalls.Unlock()
			if diff := cmp.Diff(tc.want, procsCalls.values); diff != "" {
				t.Errorf("GOMAXPROCS calls (-want +got):\n%s", diff)
			}
		})
	}
}

// ignoreCommon leaves the shared config (rest config, logger) out of diffs.
var ignoreCommon = cmpopts.IgnoreTypes(bench.Common{})

func TestRootCommand_Flags_BuildConfigs(t *testing.T) {
	t.Parallel()
	kc := writeKubeconfig(t)
	tests := map[string]struct {
		args []string
		want any
	}{
		"crud takes workers, n and duration": {
			args: []string{"crud", "--kubeconfig", kc, "--workers", "3", "--n", "7", "--duration", "2s"},
			want: bench.CRUDConfig{Workers: 3, N: 7, Duration: 2 * time.Second},
		},
		"cascade takes --n as pods and a propagation": {
			args: []string{"cascade", "--kubeconfig", kc, "--n", "50", "--propagation", "Orphan"},
			want: bench.CascadeConfig{Pods: 50, Propagation: "Orphan"},
		},
		"cascade can wait for running pods": {
			args: []string{"cascade", "--kubeconfig", kc, "--pods", "9", "--wait-running"},
			want: bench.CascadeConfig{Pods: 9, Propagation: "Background", WaitRunning: true},
		},
		"cascade prefers --pods over --n": {
			args: []string{"cascade", "--kubeconfig", kc, "--n", "50", "--pods", "9"},
			want: bench.CascadeConfig{Pods: 9, Propagation: "Background"},
		},
		"lifecycle takes jobs, pods, rate and the fake node": {
			args: []string{"lifecycle", "--kubeconfig", kc, "--jobs", "4", "--pods", "2", "--rate", "1.5", "--fake-node", "--node-name", "n1"},
			want: bench.LifecycleConfig{Jobs: 4, Pods: 2, Rate: 1.5, FakeNode: true, NodeName: "n1"},
		},
		"lifecycle takes the pods' command, one word per flag": {
			args: []string{"lifecycle", "--kubeconfig", kc, "--jobs", "100", "--pods", "1", "--command", "sh", "--command", "-c", "--command", "exit 0"},
			want: bench.LifecycleConfig{Jobs: 100, Pods: 1, Command: []string{"sh", "-c", "exit 0"}},
		},
		"cascade takes the pods' command": {
			args: []string{"cascade", "--kubeconfig", kc, "--pods", "3", "--command", "sleep", "--command", "60"},
			want: bench.CascadeConfig{Pods: 3, Propagation: "Background", Command: []string{"sleep", "60"}},
		},
		"watch takes watchers and writers": {
			args: []string{"watch", "--kubeconfig", kc, "--watchers", "6", "--workers", "2", "--n", "300"},
			want: bench.WatchConfig{Watchers: 6, Writers: 2, N: 300},
		},
		"list takes kind, page size and repeat": {
			args: []string{"list", "--kubeconfig", kc, "--n", "100", "--kind", "job", "--page-size", "10", "--repeat", "2"},
			want: bench.ListConfig{N: 100, Kind: "job", PageSize: 10, Repeat: 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var rec recorded
			if _, stderr, err := execute(t, &rec, nil, tc.args...); err != nil {
				t.Fatalf("execute: %v (stderr %q)", err, stderr)
			}
			if len(rec.configs) != 1 {
				t.Fatalf("ran %v, want one scenario", rec.names)
			}
			if diff := cmp.Diff(tc.want, rec.configs[0], ignoreCommon); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRootCommand_Flags_Common(t *testing.T) {
	t.Parallel()
	var rec recorded
	kc := writeKubeconfig(t)
	_, _, err := execute(t, &rec, nil, "crud", "--kubeconfig", kc, "--content-type", "json", "--server-pid", "77",
		"--timeout", "9s", "--image", "alpine", "-q")
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	c := rec.configs[0].(bench.CRUDConfig).Common
	got := struct {
		Host, ContentType, Image string
		PID                      int
		Timeout                  time.Duration
		Progress                 bool
	}{c.RestConfig.Host, c.ContentType, c.Image, c.ServerPID, c.Timeout, c.Progress != nil}
	want := got
	want.Host, want.ContentType, want.Image, want.PID, want.Timeout, want.Progress = "https://127.0.0.1:6443", "json", "alpine", 77, 9*time.Second, false
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("common (-want +got):\n%s", diff)
	}
}

func TestRootCommand_Output(t *testing.T) {
	t.Parallel()
	kc := writeKubeconfig(t)
	t.Run("human output is one summary line per scenario", func(t *testing.T) {
		t.Parallel()
		var rec recorded
		stdout, _, err := execute(t, &rec, nil, "crud", "cascade", "--kubeconfig", kc, "-q")
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		want := "crud: 4123 ops/s, create p99 9.1 ms, delete p99 8.7 ms, 0 errors\n" +
			"cascade: Foreground delete of 5 pods: pods gone in 0.00 s, job gone in 0.00 s, pods created in 0.00 s\n"
		if diff := cmp.Diff(want, stdout); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
	})
	t.Run("json output is one object per scenario and line", func(t *testing.T) {
		t.Parallel()
		var rec recorded
		stdout, _, err := execute(t, &rec, nil, "crud", "--kubeconfig", kc, "-o", "json")
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("stdout %q is not one JSON object: %v", stdout, err)
		}
		if got["scenario"] != "crud" || got["ops_per_second"] != 4123.0 {
			t.Errorf("json = %v", got)
		}
	})
	t.Run("a verification failure prints the result and fails", func(t *testing.T) {
		t.Parallel()
		var rec recorded
		stdout, stderr, err := execute(t, &rec, map[string]bool{"watch": true}, "watch", "list", "--kubeconfig", kc, "-q")
		if err == nil || !strings.Contains(err.Error(), "watch") {
			t.Fatalf("err = %v, want a failure naming watch", err)
		}
		if !strings.HasPrefix(stdout, "watch: ") || !strings.Contains(stdout, "\nlist: ") {
			t.Errorf("stdout = %q, want the watch summary then the list summary", stdout)
		}
		if !strings.Contains(stderr, "watch: FAILED: 2 events lost") {
			t.Errorf("stderr = %q, want the failure", stderr)
		}
	})
}

func TestRootCommand_Args(t *testing.T) {
	t.Parallel()
	kc := writeKubeconfig(t)
	tests := map[string]struct {
		args      []string
		wantRun   []string
		wantError bool
	}{
		"all runs every scenario in order": {args: []string{"all", "--kubeconfig", kc, "-q"},
			wantRun: []string{"crud", "cascade", "lifecycle", "watch", "list"}},
		"an unknown scenario is rejected":  {args: []string{"crud", "bogus", "--kubeconfig", kc}, wantError: true},
		"a scenario is required":           {args: []string{"--kubeconfig", kc}, wantError: true},
		"an unknown output is rejected":    {args: []string{"crud", "--kubeconfig", kc, "-o", "yaml"}, wantError: true},
		"a bad log level is rejected":      {args: []string{"crud", "--kubeconfig", kc, "--log-level", "loud"}, wantError: true},
		"a missing kubeconfig is reported": {args: []string{"crud", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, wantError: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var rec recorded
			_, _, err := execute(t, &rec, nil, tc.args...)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v, wantError %t", err, tc.wantError)
			}
			if diff := cmp.Diff(tc.wantRun, rec.names); diff != "" {
				t.Errorf("scenarios run (-want +got):\n%s", diff)
			}
		})
	}
}
