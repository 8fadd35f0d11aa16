package orders

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

// TestSubmitConcurrent: the same order submitted at once by many clients
// of two processes is stored once, with one order.held, and every caller
// gets the same answer.
func TestSubmitConcurrent(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		a := newStack(t, clients(), prefix, emailOnly, "p1")
		b := newStack(t, clients(), prefix, emailOnly, "p2")
		ctx := context.Background()
		const n = 16
		answers := make([]Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := a
				if i%2 == 1 {
					st = b
				}
				res, err := st.svc.Submit(ctx, shop, testOrder("CC-1", "3", "cc@example.com"))
				if err != nil {
					t.Error(err)
				}
				answers[i] = res
			}()
		}
		wg.Wait()
		for i := range answers {
			if !cmp.Equal(answers[i], answers[0]) {
				t.Errorf("answer %d = %+v, want %+v", i, answers[i], answers[0])
			}
		}
		a.drain(t)
		if diff := cmp.Diff([]string{events.OrderHeld}, eventTypes(a.published(t), answers[0].ScreeningID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestEmbeddedServer: the commit script, the relay's consumer group and
// the expiry run on the embedded Redis-protocol server of zero-config
// mode (miniredis), as on Redis.
func TestEmbeddedServer(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { rdb.Close() })
	st := newStack(t, rdb, "emb:", HoldsConfig{KYCWhen: KYCNever, ExpireAfter: time.Hour}, "p1")
	ctx := context.Background()
	res, err := st.svc.Submit(ctx, shop, testOrder("E-1", "9", "e@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := st.svc.Submit(ctx, shop, testOrder("E-1", "9", "e@example.com")); err != nil || !cmp.Equal(again, res) {
		t.Fatalf("replay: %+v, %v", again, err)
	}
	st.advance(time.Hour)
	if n, err := st.svc.Expire(ctx, 10); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	st.drain(t)
	if diff := cmp.Diff([]string{events.OrderHeld, events.OrderExpired}, eventTypes(st.published(t), res.ScreeningID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"order.created", "order.expired"}, st.audit.actions()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// TestRedisDown: with Redis unreachable, every operation is an error
// wrapping ErrUnavailable (a 503), never a decision.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	st := newStack(t, rdb, "down:", emailOnly, "p1")
	ctx := context.Background()
	if _, err := st.svc.Submit(ctx, shop, testOrder("D-1", "1", "d@example.com")); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	checks := map[string]error{}
	_, checks["submit"] = st.svc.Submit(ctx, shop, testOrder("D-2", "1", "d@example.com"))
	_, checks["get"] = st.svc.Get(ctx, Access{Owner: shop}, "D-1")
	_, checks["review"] = st.svc.Review(ctx, Access{Officer: true}, "scr_AAAAAAAAAAAAAAAAAAAAAA", ManualReview{Decision: screening.Accept, Reason: "x"}, "ann")
	checks["verified"] = st.svc.EmailVerified(ctx, string(shop), "1", "d@example.com", "customer")
	_, checks["expire"] = st.svc.Expire(ctx, 10)
	for what, err := range checks {
		if !errors.Is(err, screening.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", what, err)
		}
	}
}
