package webhooks_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/webhooks"
)

// BenchmarkDelivery measures signed deliveries per second to a local
// receiver with one and two workers (two services with their own Redis
// clients and consumer names, sharing the work as two gateway processes
// do), b.N events published as one burst (a backlog of b.N), then the
// delivery latency from publication to receipt at a paced 200 events/s.
// It reports deliveries/s, latency p50/p99, the growth of the Go heap in
// use while the backlog drains, over what it was before (compare
// -benchtime=2000x with 20000x: flat; the receipt map is allocated
// beforehand, only its ids' strings grow with b.N), and
// CPU time per delivery of the whole test process (workers, receiver and
// the publishing client).
//
//	bash scripts/test.sh -run '^$' -bench BenchmarkDelivery -benchtime 5000x ./webhooks/
func BenchmarkDelivery(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchDelivery(b, workers)
		})
	}
}

func benchDelivery(b *testing.B, workers int) {
	prefix := testenv.KeyPrefix(b)
	var (
		mu       sync.Mutex
		received = make(map[string]time.Time, b.N+400) // allocated before the measure
		count    atomic.Int64
	)
	// A receiver that keeps only each webhook-id's first receipt time.
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if _, dup := received[id]; !dup {
			received[id] = time.Now()
			count.Add(1)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(recv.Close)
	cfg := fastConfig(webhooks.Endpoint{Name: "bench", URL: recv.URL, Secret: specSecret, MaxInFlight: 32})
	var hs []*harness
	for i := range workers {
		rdb := redis.NewClient(mustOpts(b, testenv.RedisURL(b)))
		b.Cleanup(func() { rdb.Close() })
		hs = append(hs, newHarness(b, rdb, prefix, cfg, fmt.Sprintf("bench-%d", i)))
	}
	for _, h := range hs {
		h.run()
	}
	pub := hs[0].outbox
	ctx := context.Background()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	n := b.N
	// Published in pipelines of 100, as the order relay does.
	for i := 0; i < n; i += 100 {
		pipe := hs[0].rdb.Pipeline()
		for j := i; j < min(i+100, n); j++ {
			fields, err := pub.Fields(events.Event{Type: "order.cleared", Time: time.Now(), Data: map[string]any{"screening_id": fmt.Sprintf("scr_%d", j), "status": "cleared", "version": 2}})
			if err != nil {
				b.Fatal(err)
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: pub.Key(), Values: fields})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for count.Load() < int64(n) {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("delivered %d of %d in 5 minutes", count.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	close(stopSampling)
	<-sampled

	// Latency at a paced load: 200 events/s for 2 s.
	const paced = 400
	sent := map[string]time.Time{}
	for i := range paced {
		t0 := time.Now()
		ev, err := pub.Append(ctx, events.Event{Type: "order.held", Time: t0, Data: map[string]any{"screening_id": fmt.Sprintf("scr_p%d", i)}})
		if err != nil {
			b.Fatal(err)
		}
		sent[webhooks.DeliveryID("bench", ev)] = t0
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(time.Minute)
	for count.Load() < int64(n+paced) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	var lat []time.Duration
	for id, t0 := range sent {
		if t1, ok := received[id]; ok {
			lat = append(lat, t1.Sub(t0))
		}
	}
	mu.Unlock()
	if len(lat) != paced {
		b.Fatalf("%d of %d paced events delivered", len(lat), paced)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric((float64(peak.Load())-float64(base.HeapInuse))/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/delivery")
}

func mustOpts(b testing.TB, url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
