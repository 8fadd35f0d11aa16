package orders

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

// storeLegacy writes an order as the gateway before issue 8 stored it.
func storeLegacy(t *testing.T, st *stack, sid string, res Result, fp string) {
	t.Helper()
	b, _ := json.Marshal(res)
	priv := `{"account_id":"acct-old","card_bin":"411111","card_last4":"4242","ip":"198.51.100.9"}`
	if err := st.rdb.HSet(context.Background(), st.svc.legacyKey(sid), "result", b, "private", priv, "fp", fp).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyOrders: orders stored before this package (by screening id, and
// before owners by order_id alone) are still found, replayed, and take
// events after the upgrade: a chargeback months later blocklists their
// card; a legacy order is an officer's only.
func TestLegacyOrders(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		o := testOrder("OLD-1", "acct-old", "old@example.com")
		if err := o.Normalize(); err != nil {
			t.Fatal(err)
		}
		fp, err := screening.Fingerprint(o)
		if err != nil {
			t.Fatal(err)
		}
		sid := screeningID(st.svc.hasher, shop, "OLD-1")
		created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		old := Result{ScreeningID: sid, OrderID: "OLD-1", Owner: shop, Status: StatusHeld, Decision: screening.Accept,
			Reasons: []screening.Reason{}, Requirements: Requirements{EmailVerification: Pending, KYC: NotRequired, ManualReview: NotRequired},
			Links: map[string]string{}, CreatedAt: created}
		storeLegacy(t, st, sid, old, fp)
		// A second old hold of the account: stored before issue 11, it is
		// in no account index, so the chargeback below does not reach it
		// (a known gap, see the notes); it expires.
		sid2 := screeningID(st.svc.hasher, shop, "OLD-2")
		old2 := old
		old2.ScreeningID, old2.OrderID = sid2, "OLD-2"
		storeLegacy(t, st, sid2, old2, "y")
		storeLegacy(t, st, "INV-7", Result{OrderID: "INV-7", Status: StatusCleared, Decision: screening.Accept, CreatedAt: created}, "x")

		// The storefront's retry of the old order replays it.
		got, err := st.svc.Submit(ctx, shop, testOrder("OLD-1", "acct-old", "old@example.com"))
		if err != nil || got.ScreeningID != sid || !got.CreatedAt.Equal(created) {
			t.Fatalf("replay of an old order: %+v, %v", got, err)
		}
		if _, err := st.svc.RecordEvent(ctx, Access{Owner: shop}, "OLD-1", Event{Type: EventChargeback}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.svc.Get(ctx, Access{Owner: shop}, "INV-7"); err == nil {
			t.Error("a storefront reads a legacy order")
		}
		if _, err := st.svc.Get(ctx, Access{Owner: LegacyOwner}, "INV-7"); err == nil {
			t.Error("a storefront naming legacy reads a legacy order")
		}
		leg, err := st.svc.Get(ctx, Access{Officer: true, Owner: LegacyOwner}, "INV-7")
		if err != nil || leg.Status != StatusCleared {
			t.Errorf("officer reads the legacy order: %+v, %v", leg, err)
		}
		st.drain(t)
		// The chargeback restricts its account and terminates the old
		// hold (issue 11).
		want := sorted([]string{events.OrderChargeback, events.AccountRestricted, events.OrderFlaggedForTermination, events.OrderRejected})
		if got := sorted(eventTypes(st.published(t), sid)); !slices.Equal(got, want) {
			t.Errorf("events of the old order: %v, want %v", got, want)
		}
		if got, _ := st.svc.Get(ctx, Access{Owner: shop}, sid); got.Status != StatusRejected {
			t.Errorf("old hold after the chargeback: %s", got.Status)
		}
		// The other old hold ran from its creation, two months ago: it
		// expires.
		if _, err := st.svc.Get(ctx, Access{Owner: shop}, sid2); err != nil {
			t.Fatal(err) // migrated on the way
		}
		if n, err := st.svc.Expire(ctx, 10); err != nil || n != 1 {
			t.Errorf("Expire: %d, %v; want the old hold expired", n, err)
		}
		if got, _ := st.svc.Get(ctx, Access{Owner: shop}, sid2); got.Status != StatusExpired {
			t.Errorf("old hold after expiry: %s", got.Status)
		}
	})
}
