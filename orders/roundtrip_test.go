package orders

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening"
)

// TestSubmitRoundTrips: a new order is two Redis round trips, the
// screening pipeline (which carries the record and account look-up next
// to the blocklist look-up and the velocity update) and the one commit
// script; a replay is one. Counted by a go-redis hook and by the server's
// INFO commandstats, on a server of the test's own: one EVALSHA commit per
// new order, and no separate publication (no XADD outside the commit, no
// MULTI, no lease).
func TestSubmitRoundTrips(t *testing.T) {
	srv, rdb := privateRedis(t)
	hook := &testenv.CountingHook{}
	rdb.AddHook(hook)
	stats := redis.NewClient(&redis.Options{Addr: srv.Addr()}) // not hooked
	t.Cleanup(func() { stats.Close() })
	st := newStack(t, rdb, "rt:", emailOnly, "p1")
	ctx := context.Background()
	order := func(i int) screening.Order {
		// Customers of their own: none is rejected by velocity, so every
		// new order is held with the same pending work.
		o := testOrder(fmt.Sprintf("RT-%d", i), fmt.Sprintf("a%d", i), fmt.Sprintf("c%d@example.com", i))
		o.IP = fmt.Sprintf("198.51.%d.7", 100+i)
		o.Payment.CardLast4 = fmt.Sprintf("%04d", 1000+i)
		o.Billing.Address = fmt.Sprintf("%d Main St", i)
		return o
	}
	// Warm up: the scripts reach the fresh server by EVAL after NOSCRIPT,
	// and go-redis opens its connections.
	for range 2 {
		if _, err := st.svc.Submit(ctx, shop, order(0)); err != nil {
			t.Fatal(err)
		}
	}
	before := testenv.CommandStats(t, stats)
	const n = 30
	for i := 1; i <= n; i++ {
		hook.Reset()
		if _, err := st.svc.Submit(ctx, shop, order(i)); err != nil {
			t.Fatal(err)
		}
		if p, c, d := hook.Pipelines.Load(), hook.Cmds.Load(), hook.Dials.Load(); p != 1 || c != 1 || d != 0 {
			t.Fatalf("new order %d: %d pipelines, %d single commands, %d dials; want 1, 1, 0", i, p, c, d)
		}
		hook.Reset()
		if _, err := st.svc.Submit(ctx, shop, order(i)); err != nil {
			t.Fatal(err)
		}
		if p, c := hook.Pipelines.Load(), hook.Cmds.Load(); p != 1 || c != 0 {
			t.Fatalf("replayed order %d: %d pipelines, %d single commands; want 1, 0", i, p, c)
		}
	}
	after := testenv.CommandStats(t, stats)
	delta := make(map[string]int64)
	for name, s := range after {
		if d := s.Calls - before[name].Calls; d != 0 {
			delta[name] = d
		}
	}
	// Per submission the velocity EVALSHA, per new order the commit
	// EVALSHA; inside the commit one XADD, the change's one pending entry
	// (the creation event, the audit entry, the mail request and the
	// account mark together).
	want := map[string]int64{"evalsha": 3 * n, "eval": 0, "xadd": n, "multi": 0, "exec": 0, "set": 0}
	got := make(map[string]int64)
	for name := range want {
		got[name] = delta[name]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("INFO commandstats deltas over %d new and %d replayed orders (-want +got):\n%s", n, n, diff)
	}
	t.Logf("server commands for %d new + %d replayed orders, scripts' own included: %v", n, n, delta)
}

// TestSubmitConflict: the same order_id with another body is a conflict
// and changes nothing; the same order_id under another owner is another
// order; a storefront cannot see another key's order.
func TestSubmitConflict(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		first, err := st.svc.Submit(ctx, shop, testOrder("INV-9", "1", "a@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		other := testOrder("INV-9", "1", "a@example.com")
		other.Amount, other.Items[0].Price = "13.00", "13.00"
		if _, err := st.svc.Submit(ctx, shop, other); !errors.Is(err, screening.ErrConflict) {
			t.Fatalf("other body: %v, want ErrConflict", err)
		}
		theirs, err := st.svc.Submit(ctx, APIKeyOwner("other"), other)
		if err != nil || theirs.ScreeningID == first.ScreeningID {
			t.Fatalf("another owner's INV-9: %+v, %v", theirs, err)
		}
		if _, err := st.svc.Get(ctx, Access{Owner: APIKeyOwner("other")}, first.ScreeningID); !errors.Is(err, screening.ErrNotFound) {
			t.Errorf("another key reads the order by screening id: %v, want ErrNotFound", err)
		}
		if got, err := st.svc.Get(ctx, Access{Owner: shop}, "INV-9"); err != nil || got.Score != first.Score || got.ScreeningID != first.ScreeningID {
			t.Errorf("the stored order: %+v, %v", got, err)
		}
	})
}
