package gctune

import "testing"

func TestChoose(t *testing.T) {
	const gib = 1 << 30
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	cases := map[string]struct {
		vars   map[string]string
		memory uint64
		want   Settings
	}{
		"nothing set":           {memory: 24 * gib, want: Settings{Percent: Percent, MemoryLimit: 12 * gib}},
		"GOGC set":              {vars: map[string]string{"GOGC": "100"}, memory: 8 * gib, want: Settings{MemoryLimit: 4 * gib}},
		"GOGC=off is respected": {vars: map[string]string{"GOGC": "off"}, memory: 8 * gib, want: Settings{MemoryLimit: 4 * gib}},
		"GOMEMLIMIT set":        {vars: map[string]string{"GOMEMLIMIT": "1GiB"}, memory: 8 * gib, want: Settings{Percent: Percent}},
		"memory unknown":        {want: Settings{Percent: Percent}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := choose(env(tc.vars), tc.memory); got != tc.want {
				t.Errorf("choose = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAvailableMemory_ReadsThisMachine(t *testing.T) {
	if memTotal() == 0 {
		t.Skip("no /proc/meminfo here")
	}
	if got, total := availableMemory(), memTotal(); got == 0 || got > total {
		t.Errorf("availableMemory = %d, want within (0, MemTotal %d]", got, total)
	}
}
