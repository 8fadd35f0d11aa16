package orders

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// TestTimelineUncapped: the timeline keeps every change (the old one kept
// the newest 200) and reads in pages.
func TestTimelineUncapped(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, err := st.svc.Submit(ctx, shop, testOrder("TL-1", "5", "t@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		const failures = 230
		for range failures {
			if _, err := st.svc.RecordEvent(ctx, Access{Owner: shop}, "TL-1", Event{Type: EventPaymentFailed}); err != nil {
				t.Fatal(err)
			}
		}
		var all []TimelineEntry
		for offset := 0; offset >= 0; {
			_, page, next, err := st.svc.Timeline(ctx, Access{Officer: true}, res.ScreeningID, offset, 100)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			offset = next
		}
		if len(all) != failures+1 || all[0].Type != "screened" || all[len(all)-1].Version != failures+1 {
			t.Fatalf("%d entries, first %+v, last %+v; want %d, screened first, last at version %d", len(all), all[0], all[len(all)-1], failures+1, failures+1)
		}
		for i, e := range all {
			if e.Version != int64(i+1) {
				t.Fatalf("entry %d at version %d", i, e.Version)
			}
		}
	})
}

// TestChargeback: a chargeback blocklists the account and card and
// publishes order.chargeback and account.restricted in the same commit as
// its timeline line; a repeated delivery changes nothing.
func TestChargeback(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, err := st.svc.Submit(ctx, shop, testOrder("CB-1", "66", "cb@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := st.svc.RecordEvent(ctx, Access{Owner: shop}, res.ScreeningID, Event{Type: EventChargeback, Reason: "disputed"}); err != nil {
				t.Fatal(err)
			}
		}
		st.drain(t)
		// The held order is flagged for termination and rejected; the
		// account's restriction comes from its own shard, in no order
		// with the order's events.
		if diff := cmp.Diff(sorted([]string{events.OrderHeld, events.OrderFlaggedForTermination, events.OrderRejected, events.OrderChargeback, events.AccountRestricted}), sorted(eventTypes(st.published(t), res.ScreeningID))); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		_, tl, _, err := st.svc.Timeline(ctx, Access{Officer: true}, res.ScreeningID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != 3 || tl[1].Type != "flagged_for_termination" || tl[2].Detail != "counted on the account; account blocklisted; card blocklisted; account restricted; orders flagged for termination: 1" || tl[2].Actor != string(shop) {
			t.Errorf("timeline %+v", tl)
		}
		bl := st.svc.effects.(ScoringEffects).Blocklist.(*blocklist.List)
		if got, err := bl.List(ctx, blocklist.KindAccount, 10); err != nil || len(got) != 1 {
			t.Errorf("account blocklist: %+v, %v", got, err)
		}
	})
}
