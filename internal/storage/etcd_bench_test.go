package storage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkEtcd_CreateDelete_16Workers measures the storage floor of the
// crud scenario: 16 concurrent workers, each op a durable create or delete.
func BenchmarkEtcd_CreateDelete_16Workers(b *testing.B) {
	e, err := StartEmbedded(context.Background(), EmbeddedConfig{Dir: b.TempDir(), CompactionRetention: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s := NewEtcd(e.Client(), "/registry")
	value := make([]byte, 1500)
	var next atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("/jobs/ns/j%d", i)
				if _, err := s.Create(ctx, key, value); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := s.Delete(ctx, key, 0); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "ops/s")
}
