package velocity

import (
	"context"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

// benchOrder returns the i-th order of a stream where identifiers repeat as
// on a busy storefront: a few thousand IPs in a few hundred /24s, customers
// ordering a few times each.
func benchOrder(i int64) Order {
	n := int(i)
	return Order{
		ID:      "bench-" + strconv.FormatInt(i, 10),
		IP:      netip.AddrFrom4([4]byte{10, byte(n % 7), byte(n % 331), byte(n % 251)}),
		Email:   "c" + strconv.Itoa(n%20011) + "@example.com",
		Account: strconv.Itoa(n % 20011),
		Card:    "411111:" + strconv.Itoa(1000+n%8999),
		Address: "us|94107|san francisco|" + strconv.Itoa(n%15013) + " main st",
	}
}

// BenchmarkRecord records orders with every identifier, from parallel
// goroutines, against the test Redis. It reports the Redis server time per
// order ("server-us/op", from INFO commandstats of EVALSHA, which includes
// the script's commands) when the server is not shared with other work.
func BenchmarkRecord(b *testing.B) {
	c, rdb := sharedCounter(b, nil)
	ctx := context.Background()
	var seq atomic.Int64
	before := testenv.CommandStats(b, rdb)["evalsha"]
	start := time.Now()
	// Several requests in flight per core, as behind an HTTP server: the
	// client waits on the network most of the time.
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			if _, err := c.Record(ctx, start.Add(time.Duration(i)*time.Millisecond), benchOrder(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after := testenv.CommandStats(b, rdb)["evalsha"]
	if calls := after.Calls - before.Calls; calls > 0 {
		b.ReportMetric(float64(after.Usec-before.Usec)/float64(calls), "server-us/op")
	}
}

// BenchmarkQueueRecord is the part of Record that runs in the gateway for
// every order, without Redis: planning the order's script call (keys,
// ARGV) and queueing it on a pipeline that is never sent, as the screener
// does with the blocklist's commands. Its allocations are exact; a round
// trip's (BenchmarkRecord) also count go-redis reading the answer.
func BenchmarkQueueRecord(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	b.Cleanup(func() { rdb.Close() })
	cfg := Config{}
	cfg.SetDefaults()
	c, err := New(cfg, rdb, testHasher(b))
	if err != nil {
		b.Fatal(err)
	}
	orders := make([]Order, 1024)
	for i := range orders {
		orders[i] = benchOrder(int64(i))
		orders[i].Unless = "gw:o:{x}:rec" // as the orders service guards it
	}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.QueueRecord(ctx, rdb.Pipeline(), now, orders[i%len(orders)])
	}
}
