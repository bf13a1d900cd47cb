package maxprocs

import "testing"

func TestChoose(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env           string
		current, cpus int
		want          int
	}{
		"two threads per CPU by default":        {current: 2, cpus: 2, want: 4},
		"one CPU":                               {current: 1, cpus: 1, want: 2},
		"GOMAXPROCS from the environment wins":  {env: "3", current: 3, cpus: 2, want: 0},
		"a CPU quota lowered the default: keep": {current: 2, cpus: 8, want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := choose(tc.env, tc.current, tc.cpus); got != tc.want {
				t.Errorf("choose(%q, %d, %d) = %d, want %d", tc.env, tc.current, tc.cpus, got, tc.want)
			}
		})
	}
}
