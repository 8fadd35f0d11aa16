package screening

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/minfraud"
)

// benchSubmitOrder returns the i-th order of a stream where identifiers
// repeat as on a busy storefront: IPs in 1,687 /24 prefixes, and 20,011
// customers (account, email, address) ordering again and again.
func benchSubmitOrder(i int64) Order {
	n := int(i)
	o := exampleOrderValue()
	o.OrderID = "bench-" + strconv.FormatInt(i, 10)
	o.IP = "10." + strconv.Itoa(n%7) + "." + strconv.Itoa(n%241) + "." + strconv.Itoa(n%251)
	o.Account.ID = strconv.Itoa(n % 20011)
	o.Account.Email = "c" + o.Account.ID + "@example.com"
	o.Payment.CardLast4 = strconv.Itoa(1000 + n%8999)
	o.Billing.Address = strconv.Itoa(n%15013) + " Main St"
	return o
}

// minFraudStub serves MaxMind's own Score fixture for every call, as
// minFraud would from across the network, here on loopback.
func minFraudStub(b *testing.B) *minfraud.Client {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("minfraud", "testdata", "python-score-response.json"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.maxmind.com-minfraud-score+json; charset=UTF-8; version=2.0")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	c, err := minfraud.New(minfraud.Config{AccountID: "1", LicenseKey: "bench", Endpoint: srv.URL}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSubmit measures Orders.Submit of new orders, whole: decoding
// aside, everything the API does for an order (normalizing, fingerprint,
// signals, the screening round trip to the test Redis, minFraud over HTTP
// to a local stub, rules, the create-and-publish script), from concurrent
// goroutines as behind an HTTP server. It reports the Redis round trips per
// order (a go-redis hook), the p99 latency, and the Redis server time per
// order (INFO commandstats; exact only when nothing else uses the server).
func BenchmarkSubmit(b *testing.B) {
	st := newFusedStack(b, "", minFraudStub(b))
	ctx := context.Background()
	var seq atomic.Int64 // the key prefix is the run's own: ids may repeat across runs
	if _, err := st.orders.Submit(ctx, testOwner, benchSubmitOrder(seq.Add(1))); err != nil {
		b.Fatal(err) // warm-up: scripts, connections
	}
	before := testenv.CommandStats(b, st.rdb)
	st.hook.Reset()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := st.orders.Submit(ctx, testOwner, benchSubmitOrder(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	trips := st.hook.RoundTrips()
	after := testenv.CommandStats(b, st.rdb) // after the count: INFO passes the hook
	n := float64(b.N)
	b.ReportMetric(float64(trips)/n, "roundtrips/op")
	var usec int64
	for _, name := range []string{"evalsha", "eval", "hmget", "get"} {
		usec += after[name].Usec - before[name].Usec
	}
	b.ReportMetric(float64(usec)/n, "server-us/op")
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}
