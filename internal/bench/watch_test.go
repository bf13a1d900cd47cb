package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEventChecker_Observe(t *testing.T) {
	t.Parallel()
	type counts struct{ Lost, Unexpected, Duplicates, OutOfOrder int }
	tests := map[string]struct {
		observed []uint64
		expected []uint64
		want     counts
	}{
		"every event once in order":   {observed: []uint64{3, 5, 9}, expected: []uint64{3, 5, 9}},
		"a missing event is lost":     {observed: []uint64{3, 9}, expected: []uint64{3, 5, 9}, want: counts{Lost: 1}},
		"a repeated event":            {observed: []uint64{3, 5, 5, 9}, expected: []uint64{3, 5, 9}, want: counts{Duplicates: 1}},
		"an event arriving late":      {observed: []uint64{3, 9, 5}, expected: []uint64{3, 5, 9}, want: counts{OutOfOrder: 1}},
		"an event nobody wrote":       {observed: []uint64{3, 4, 5}, expected: []uint64{3, 5}, want: counts{Unexpected: 1}},
		"nothing arrives at all":      {expected: []uint64{1, 2}, want: counts{Lost: 2}},
		"a replay from the beginning": {observed: []uint64{1, 2, 1, 2}, expected: []uint64{1, 2}, want: counts{Duplicates: 2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newEventChecker()
			for _, rv := range tc.observed {
				c.observe(rv)
			}
			exp := map[uint64]struct{}{}
			for _, rv := range tc.expected {
				exp[rv] = struct{}{}
			}
			lost, unexpected := c.compare(exp)
			got := counts{Lost: lost, Unexpected: unexpected, Duplicates: c.duplicates, OutOfOrder: c.outOfOrder}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}
