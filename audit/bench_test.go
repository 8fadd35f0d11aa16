package audit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// BenchmarkAppend measures appends on the test Redis: one appender, and
// as many as GOMAXPROCS racing for the head (each race lost costs one more
// script run).
func BenchmarkAppend(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			l, err := New(testenv.RedisClient(b), testenv.KeyPrefix(b), discard())
			if err != nil {
				b.Fatal(err)
			}
			if err := l.rdb.HSet(b.Context(), l.headKey(), "init", "1").Err(); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			one := func() {
				i := int(n.Add(1))
				if _, err := l.Append(b.Context(), entry(i, base)); err != nil {
					b.Error(err)
				}
			}
			if !parallel {
				for b.Loop() {
					one()
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					one()
				}
			})
		})
	}
}

// BenchmarkAppendBatch measures batched appends of the relay's batch sizes
// on the test Redis, per entry (ns/op is per entry appended), to compare
// with BenchmarkAppend's parallel=false.
func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l, err := New(testenv.RedisClient(b), testenv.KeyPrefix(b), discard())
			if err != nil {
				b.Fatal(err)
			}
			if err := l.rdb.HSet(b.Context(), l.headKey(), "init", "1").Err(); err != nil {
				b.Fatal(err)
			}
			base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			n := 0
			batch := make([]Entry, 0, size)
			for b.Loop() {
				n++
				batch = append(batch, entry(n, base))
				if len(batch) < size {
					continue
				}
				if _, err := l.AppendBatch(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		})
	}
}
