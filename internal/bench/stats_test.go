package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func millis(ns ...int) []time.Duration {
	out := make([]time.Duration, 0, len(ns))
	for _, n := range ns {
		out = append(out, time.Duration(n)*time.Millisecond)
	}
	return out
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	oneToHundred := make([]int, 0, 100)
	for i := 100; i >= 1; i-- {
		oneToHundred = append(oneToHundred, i)
	}
	tests := map[string]struct {
		samples []time.Duration
		want    LatencySummary
	}{
		"no samples give a zero summary": {samples: nil, want: LatencySummary{}},
		"one sample is every percentile": {
			samples: millis(7),
			want:    LatencySummary{Count: 1, MeanMs: 7, P50Ms: 7, P90Ms: 7, P99Ms: 7, MaxMs: 7},
		},
		"unsorted 1..100 ms use nearest rank": {
			samples: millis(oneToHundred...),
			want:    LatencySummary{Count: 100, MeanMs: 50.5, P50Ms: 50, P90Ms: 90, P99Ms: 99, MaxMs: 100},
		},
		"p99 of ten samples is the maximum": {
			samples: millis(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000),
			want:    LatencySummary{Count: 10, MeanMs: 104.5, P50Ms: 5, P90Ms: 9, P99Ms: 1000, MaxMs: 1000},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, Summarize(tc.samples)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecorder_Record_Concurrent(t *testing.T) {
	t.Parallel()
	var r Recorder
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				r.Record(time.Duration(w*100+i+1) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	got := r.Summary()
	if got.Count != 800 || got.MaxMs != 800 || got.P50Ms != 400 {
		t.Errorf("summary = %+v, want count 800, max 800 ms, p50 400 ms", got)
	}
}

func TestErrorKey(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "batch", Resource: "jobs"}
	tests := map[string]struct {
		err  error
		want string
	}{
		"conflict is 409":             {err: apierrors.NewConflict(gr, "j", errors.New("x")), want: "409"},
		"wrapped not found is 404":    {err: fmt.Errorf("deleting: %w", apierrors.NewNotFound(gr, "j")), want: "404"},
		"internal error is 500":       {err: apierrors.NewInternalError(errors.New("boom")), want: "500"},
		"too many requests is 429":    {err: apierrors.NewTooManyRequests("slow down", 1), want: "429"},
		"client deadline is timeout":  {err: fmt.Errorf("get: %w", context.DeadlineExceeded), want: ErrorKeyTimeout},
		"a plain error is other":      {err: errors.New("connection refused"), want: ErrorKeyOther},
		"a status without code is ..": {err: &apierrors.StatusError{}, want: ErrorKeyOther},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := ErrorKey(tc.err); got != tc.want {
				t.Errorf("ErrorKey(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorCounts_Add(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Resource: "configmaps"}
	var c ErrorCounts
	if c.Snapshot() != nil || c.Total() != 0 {
		t.Fatalf("empty counts: snapshot %v total %d", c.Snapshot(), c.Total())
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c.Add(apierrors.NewConflict(gr, "a", errors.New("x")))
			c.Add(apierrors.NewInternalError(errors.New("y")))
			c.Add(nil)
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"409": 4, "500": 4}, c.Snapshot()); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	if c.Total() != 8 || c.Last() == nil {
		t.Errorf("Total = %d, Last = %v; want 8 and an error", c.Total(), c.Last())
	}
}
