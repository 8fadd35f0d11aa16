package blocklist

import (
	"context"
	"net/netip"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening/ident"
)

// BenchmarkQueueCheck is the part of Check that runs in the gateway for
// every order, without Redis: one order's look-ups (IP, email, its
// domains, account, card) queued on a pipeline that is never sent, as the
// screener does beside the velocity script. Its allocations are exact.
func BenchmarkQueueCheck(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	b.Cleanup(func() { rdb.Close() })
	l := New(rdb, testHasher(b), "", ident.EmailProvider)
	q := Query{
		IP:          netip.MustParseAddr("198.51.100.7"),
		Email:       "John.Doe+shop@mail.example.com",
		EmailDomain: "mail.example.com",
		Account:     "42",
		Card:        "411111:1111",
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.QueueCheck(ctx, rdb.Pipeline(), q)
	}
}
