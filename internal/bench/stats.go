package bench

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Recorder collects latency samples. It is safe for concurrent use. It keeps
// every sample (8 bytes each) so percentiles are exact.
type Recorder struct {
	mu      sync.Mutex // guards samples: workers record concurrently
	samples []time.Duration
}

// Record adds one sample.
func (r *Recorder) Record(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Count returns the number of samples so far.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Summary computes the latency summary of the samples recorded so far.
func (r *Recorder) Summary() LatencySummary {
	r.mu.Lock()
	sorted := slices.Clone(r.samples)
	r.mu.Unlock()
	return Summarize(sorted)
}

// LatencySummary describes a latency distribution in milliseconds.
// Percentiles use the nearest-rank method; all fields are 0 when Count is 0.
type LatencySummary struct {
	Count  int     `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summarize computes a LatencySummary; it sorts samples in place.
func Summarize(samples []time.Duration) LatencySummary {
	if len(samples) == 0 {
		return LatencySummary{}
	}
	slices.Sort(samples)
	var total time.Duration
	for _, s := range samples {
		total += s
	}
	return LatencySummary{
		Count:  len(samples),
		MeanMs: ms(total / time.Duration(len(samples))),
		P50Ms:  ms(percentile(samples, 50)),
		P90Ms:  ms(percentile(samples, 90)),
		P99Ms:  ms(percentile(samples, 99)),
		MaxMs:  ms(samples[len(samples)-1]),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// Error keys used by ErrorCounts for errors that carry no HTTP status code.
const (
	ErrorKeyTimeout = "timeout"
	ErrorKeyOther   = "other"
)

// ErrorCounts counts failed requests by HTTP status code ("409", "500", ...)
// or, for errors without one, "timeout" or "other". Safe for concurrent use.
type ErrorCounts struct {
	mu     sync.Mutex // guards counts: workers add concurrently
	counts map[string]int
	last   error
}

// Add counts err; nil is ignored.
func (c *ErrorCounts) Add(err error) {
	if err == nil {
		return
	}
	key := ErrorKey(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[key]++
	c.last = err
}

// Total returns the number of errors counted.
func (c *ErrorCounts) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Snapshot returns a copy of the counts by key (nil when there were none).
func (c *ErrorCounts) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.counts) == 0 {
		return nil
	}
	return maps.Clone(c.counts)
}

// Last returns the most recent error counted, for diagnostics.
func (c *ErrorCounts) Last() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// ErrorKey classifies err by its HTTP status code when it is an API status
// error, else as "timeout" or "other".
func ErrorKey(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if code := status.Status().Code; code != 0 {
			return strconv.Itoa(int(code))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return ErrorKeyTimeout
	}
	return ErrorKeyOther
}
