package runtime

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpandVars(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "a", "B": "b", "EMPTY": "", "IDX": "3"}
	tests := map[string]struct{ in, want string }{
		"no references":                   {in: "plain text", want: "plain text"},
		"defined variable expands":        {in: "x$(A)y", want: "xay"},
		"two variables":                   {in: "$(A)$(B)", want: "ab"},
		"empty value expands to nothing":  {in: "[$(EMPTY)]", want: "[]"},
		"unknown variable stays literal":  {in: "$(NOPE)", want: "$(NOPE)"},
		"escaped reference":               {in: "$$(A)", want: "$(A)"},
		"double dollar becomes one":       {in: "$$", want: "$"},
		"shell variable untouched":        {in: "echo $HOME ${A}", want: "echo $HOME ${A}"},
		"unterminated reference":          {in: "$(A", want: "$(A"},
		"trailing dollar":                 {in: "cost$", want: "cost$"},
		"escaped then expanded":           {in: "$$$(A)", want: "$a"},
		"index in a hostname":             {in: "job-$(IDX)", want: "job-3"},
		"dollar before other character":   {in: "$x$(A)", want: "$xa"},
		"reference with empty name stays": {in: "$()", want: "$()"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, ExpandVars(tc.in, env)); diff != "" {
				t.Errorf("ExpandVars(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestImageName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"busybox":                        "busybox",
		"docker.io/library/busybox:1.36": "busybox",
		"registry.k8s.io/e2e-test-images/busybox:1.36.1-1": "busybox",
		"localhost:5000/busybox":                           "busybox",
		"registry.k8s.io/pause:3.10":                       "pause",
		"busybox@sha256:abcdef":                            "busybox",
		"perl:5.34":                                        "perl",
	}
	for ref, want := range tests {
		if got := ImageName(ref); got != want {
			t.Errorf("ImageName(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestArgv(t *testing.T) {
	t.Parallel()
	img := Image{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	tests := map[string]struct {
		command, args []string
		want          []string
	}{
		"image defaults":        {want: []string{"/entry", "default"}},
		"args replace cmd":      {args: []string{"a"}, want: []string{"/entry", "a"}},
		"command replaces both": {command: []string{"sh"}, want: []string{"sh"}},
		"command and args":      {command: []string{"sh", "-c"}, args: []string{"exit 1"}, want: []string{"sh", "-c", "exit 1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := argv(&ContainerSpec{Command: tc.command, Args: tc.args}, &img)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("argv mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
