package orders

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
)

func reasonCodes(rs []screening.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

func answerCodes(a refunds.Answer) []string {
	var out []string
	for _, r := range a.Reasons {
		out = append(out, r.Code)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestChargebackRestrictsAccount is issue 11's "done when" at the package
// level, on a standalone server and on the Cluster: a refund is counted, a
// chargeback restricts the account (account.restricted once, audited),
// flags every order of the account for termination (the held one is
// rejected), the account's next order is rejected with account_restricted,
// and the standing shows it all in one answer.
func TestChargebackRestrictsAccount(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		shopAcc := Access{Owner: shop}
		first, err := st.svc.Submit(ctx, shop, testOrder("INV-1", "42", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "42", "ann@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		st.advance(time.Minute) // the standing lists orders newest first
		second, err := st.svc.Submit(ctx, shop, testOrder("INV-2", "42", "bob@example.com"))
		if err != nil || second.Status != StatusHeld {
			t.Fatalf("second order: %+v, %v", second, err)
		}
		st.drain(t) // indexes both orders under the account
		refunded := st.now()
		if _, err := st.svc.RecordEvent(ctx, shopAcc, "INV-1", Event{Type: EventRefund, Reason: "server failure", Amount: "5.00"}); err != nil {
			t.Fatal(err)
		}
		st.advance(time.Hour)
		for range 2 { // the storefront's retry changes nothing
			if _, err := st.svc.RecordEvent(ctx, shopAcc, "INV-1", Event{Type: EventChargeback, Reason: "disputed"}); err != nil {
				t.Fatal(err)
			}
		}
		// A second chargeback of the account: counted, restricted already.
		if _, err := st.svc.RecordEvent(ctx, shopAcc, "INV-2", Event{Type: EventChargeback}); err != nil {
			t.Fatal(err)
		}
		st.advance(time.Minute)
		next, err := st.svc.Submit(ctx, shop, testOrder("INV-3", "42", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if next.Status != StatusRejected || len(next.Reasons) == 0 || next.Reasons[0].Code != "account_restricted" {
			t.Fatalf("order of a restricted account: %+v", next)
		}
		st.drain(t)

		types := eventTypes(st.published(t), "")
		if n := count(types, events.AccountRestricted); n != 1 {
			t.Errorf("account.restricted published %d times: %v", n, types)
		}
		if n := count(types, events.OrderFlaggedForTermination); n != 2 {
			t.Errorf("order.flagged_for_termination published %d times, want 2 (INV-1, INV-2): %v", n, types)
		}
		if got := eventTypes(st.published(t), second.ScreeningID); !slices.Contains(got, events.OrderRejected) {
			t.Errorf("the held order was not rejected: %v", got)
		}
		actions := st.audit.actions()
		for action, want := range map[string]int{"account.restricted": 1, "account.refund_counted": 1, "account.chargeback_counted": 2, "order.flagged_for_termination": 2, "order.chargeback": 2} {
			if n := count(actions, action); n != want {
				t.Errorf("audit %s: %d entries, want %d (%v)", action, n, want, actions)
			}
		}

		sg, err := st.svc.Standing(ctx, shop, "42", 100)
		if err != nil {
			t.Fatal(err)
		}
		if sg.Restriction == nil || sg.Restriction.Order != first.ScreeningID || sg.Restriction.Reason != "chargeback on order INV-1 ("+first.ScreeningID+")" {
			t.Errorf("restriction: %+v", sg.Restriction)
		}
		if len(sg.Refunds) != 1 || sg.Refunds[0].Amount != "5.00" || sg.Refunds[0].OrderID != "INV-1" || !sg.Refunds[0].Date.Equal(refunded) {
			t.Errorf("refunds: %+v", sg.Refunds)
		}
		if len(sg.Chargebacks) != 2 || sg.Chargebacks[0].Amount != "12.00" || sg.Chargebacks[0].Currency != "USD" {
			t.Errorf("chargebacks: %+v", sg.Chargebacks)
		}
		var states []string
		for _, o := range sg.Orders {
			flagged := "-"
			if o.Termination != nil {
				flagged = "terminate"
			}
			states = append(states, o.OrderID+" "+string(o.Status)+" "+flagged)
		}
		if diff := cmp.Diff([]string{"INV-3 rejected -", "INV-2 rejected terminate", "INV-1 cleared terminate"}, states); diff != "" {
			t.Errorf("orders (-want +got):\n%s", diff)
		}
		if !sg.EmailVerified || sg.Identity != "not_verified" || len(sg.Flags) != 0 {
			t.Errorf("standing: %+v", sg)
		}
		// A refund asked now: a chargeback after a refund refuses it.
		ans, err := st.svc.RefundEligibility(ctx, shopAcc, "INV-1", refunds.Request{Reason: refunds.WhyFailure, FailureAt: st.now().Format(time.RFC3339)}, "key:shop")
		if err != nil {
			t.Fatal(err)
		}
		if ans.Eligible || !slices.Contains(answerCodes(ans), refunds.CodeChargeback) || !slices.Contains(answerCodes(ans), refunds.CodeRestricted) {
			t.Errorf("eligibility after a chargeback: %+v", ans)
		}

		// An admin lifts the restriction (audited with what was removed).
		sg, err = st.svc.RemoveFlag(ctx, shop, "42", FlagRequest{Kind: KindRestricted, Reason: "customer paid the dispute back"}, "admin:root")
		if err != nil || sg.Restriction != nil {
			t.Fatalf("lifting: %+v, %v", sg.Restriction, err)
		}
		if _, err := st.svc.RemoveFlag(ctx, shop, "42", FlagRequest{Kind: KindRestricted, Reason: "again"}, "admin:root"); !errors.Is(err, screening.ErrNotFound) {
			t.Errorf("lifting twice: %v", err)
		}
		st.drain(t)
		var lifted *AuditEntry
		for _, id := range st.audit.order {
			if e := st.audit.entries[id]; e.Action == "account.restriction_lifted" {
				lifted = &e
			}
		}
		if lifted == nil || lifted.Actor != "admin:root" || !json.Valid(lifted.Before) || string(lifted.After) != `{"reason":"customer paid the dispute back"}` {
			t.Errorf("lift audit entry: %+v", lifted)
		}
	})
}

// TestChargebackBeforeIndexing: an order committed but not yet indexed
// under its account when a chargeback arrives is flagged when the relay
// indexes it.
func TestChargebackBeforeIndexing(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, EmailVerification: new(false)}, "p1")
		ctx := context.Background()
		first, err := st.svc.Submit(ctx, shop, testOrder("B-1", "91", "b@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		st.drain(t)
		late, err := st.svc.Submit(ctx, shop, testOrder("B-2", "91", "b@example.com"))
		if err != nil || late.Status != StatusCleared {
			t.Fatalf("%+v, %v", late, err)
		}
		// B-2's index entry is still pending in the relay.
		if _, err := st.svc.RecordEvent(ctx, Access{Owner: shop}, first.ScreeningID, Event{Type: EventChargeback}); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.svc.Get(ctx, Access{Owner: shop}, "B-2"); got.Termination != nil {
			t.Fatalf("B-2 flagged before it was indexed: the test tests nothing")
		}
		st.drain(t)
		got, err := st.svc.Get(ctx, Access{Owner: shop}, "B-2")
		if err != nil || got.Termination == nil || got.Status != StatusCleared {
			t.Fatalf("B-2 after the relay indexed it: %+v, %v", got, err)
		}
		if n := count(eventTypes(st.published(t), late.ScreeningID), events.OrderFlaggedForTermination); n != 1 {
			t.Errorf("B-2 flagged %d times", n)
		}
	})
}

// TestChargebackRaceRestrictsOnce: two gateway processes record
// chargebacks of two orders of one account at once: the account is
// restricted once, account.restricted is published once, both orders are
// flagged.
func TestChargebackRaceRestrictsOnce(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		a := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, EmailVerification: new(false)}, "p1")
		b := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, EmailVerification: new(false)}, "p2")
		ctx := context.Background()
		var sids []string
		for _, id := range []string{"R-1", "R-2"} {
			o := testOrder(id, "77", "race@example.com")
			res, err := a.svc.Submit(ctx, shop, o)
			if err != nil || res.Status != StatusCleared {
				t.Fatalf("%s: %+v, %v", id, res, err)
			}
			sids = append(sids, res.ScreeningID)
		}
		a.drain(t)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, st := range []*stack{a, b} {
			wg.Go(func() {
				_, errs[i] = st.svc.RecordEvent(ctx, Access{Owner: shop}, sids[i], Event{Type: EventChargeback})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		a.drain(t)
		b.drain(t)
		types := eventTypes(a.published(t), "")
		if n := count(types, events.AccountRestricted); n != 1 {
			t.Errorf("account.restricted published %d times: %v", n, types)
		}
		if n := count(types, events.OrderFlaggedForTermination); n != 2 {
			t.Errorf("order.flagged_for_termination published %d times: %v", n, types)
		}
	})
}

// TestRefundEligibilityService: the rules on stored orders, the paid
// event, the counted refunds (the second and the third), a special offer,
// an expired hold, abuse flags, and what is refused with 400 or 409.
func TestRefundEligibilityService(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, EmailVerification: new(false)}, "p1")
		ctx := context.Background()
		acc := Access{Owner: shop}
		t0 := st.now()
		submit := func(id string, f func(*screening.Order)) Result {
			t.Helper()
			o := testOrder(id, "55", "el@example.com")
			if f != nil {
				f(&o)
			}
			res, err := st.svc.Submit(ctx, shop, o)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		askAt := func(id string, req refunds.Request) refunds.Answer {
			t.Helper()
			ans, err := st.svc.RefundEligibility(ctx, acc, id, req, "key:shop")
			if err != nil {
				t.Fatal(err)
			}
			return ans
		}
		// A failure now (the clock moves on).
		failure := refunds.Request{Reason: refunds.WhyFailure}
		ask := func(id string, req refunds.Request) refunds.Answer {
			t.Helper()
			if req.Reason == refunds.WhyFailure && req.FailureAt == "" {
				req.FailureAt = st.now().Format(time.RFC3339)
			}
			return askAt(id, req)
		}

		// paid_at in the body; in the future it is refused.
		paidEarly := t0.Add(-12*time.Hour - time.Minute).Format(time.RFC3339)
		res := submit("E-1", func(o *screening.Order) { o.PaidAt = paidEarly })
		if !res.PaidAt.Equal(t0.Add(-12*time.Hour - time.Minute)) {
			t.Errorf("paid_at kept as %v", res.PaidAt)
		}
		if ans := ask("E-1", refunds.Request{Reason: refunds.WhyFailure, FailureAt: paidEarly}); ans.Eligible || answerCodes(ans)[0] != refunds.CodeWindowPassed {
			t.Errorf("12h01m after payment: %+v", ans)
		}
		o := testOrder("E-F", "55", "el@example.com")
		o.PaidAt = t0.Add(time.Minute).Format(time.RFC3339)
		if _, err := st.svc.Submit(ctx, shop, o); !isField(err, "paid_at") {
			t.Errorf("paid_at in the future: %v", err)
		}
		// No paid_at: the creation time; the paid event sets it later.
		submit("E-2", nil)
		st.advance(11*time.Hour + 59*time.Minute)
		if ans := ask("E-2", failure); !ans.Eligible || ans.Amount != "12.00" || ans.Fraction != 1 || ans.Destination != "account_balance" {
			t.Errorf("11h59m after creation: %+v", ans)
		}
		if _, err := st.svc.RecordEvent(ctx, acc, "E-2", Event{Type: EventPaid, PaidAt: st.now().Add(time.Minute).Format(time.RFC3339)}); !isField(err, "paid_at") {
			t.Errorf("paid event in the future: %v", err)
		}
		paid, err := st.svc.RecordEvent(ctx, acc, "E-2", Event{Type: EventPaid, PaidAt: t0.Add(-time.Hour).Format(time.RFC3339)})
		if err != nil || !paid.PaidAt.Equal(t0.Add(-time.Hour)) {
			t.Fatalf("paid event: %+v, %v", paid, err)
		}
		if ans := ask("E-2", failure); ans.Eligible || answerCodes(ans)[0] != refunds.CodeWindowPassed {
			t.Errorf("12h59m after the reported payment: %+v", ans)
		}

		// Refunds: the second is allowed, the third refused.
		for i, id := range []string{"E-3", "E-4", "E-5"} {
			submit(id, nil)
			ans := ask(id, failure)
			if want := i < 2; ans.Eligible != want {
				t.Errorf("refund %d: %+v", i+1, ans)
			}
			if i == 2 && !slices.Contains(answerCodes(ans), refunds.CodeLimitReached) {
				t.Errorf("third refund: %+v", ans)
			}
			if _, err := st.svc.RecordEvent(ctx, acc, id, Event{Type: EventRefund}); err != nil {
				t.Fatal(err)
			}
		}
		// The refunded order itself.
		if ans := ask("E-3", failure); ans.Eligible || !slices.Contains(answerCodes(ans), refunds.CodeAlreadyRefunded) {
			t.Errorf("refunded order: %+v", ans)
		}
		// A new account: a special offer, an abuse flag.
		special := testOrder("S-1", "56", "sp@example.com")
		special.Items = append(special.Items, screening.Item{SKU: "promo", Category: "special_offer", Price: "0.00", Quantity: 1})
		if _, err := st.svc.Submit(ctx, shop, special); err != nil {
			t.Fatal(err)
		}
		if ans := ask("S-1", failure); ans.Eligible || !slices.Equal(answerCodes(ans), []string{refunds.CodeSpecialOffer}) {
			t.Errorf("special offer: %+v", ans)
		}
		if _, err := st.svc.AddFlag(ctx, shop, "56", FlagRequest{Kind: "trial_abuse", Reason: "five trials"}, "officer:olga"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.svc.AddFlag(ctx, shop, "56", FlagRequest{Kind: "trial_abuse", Reason: "again"}, "officer:olga"); !errors.Is(err, screening.ErrConflict) {
			t.Errorf("flag twice: %v", err)
		}
		if ans := ask("S-1", failure); !slices.Equal(answerCodes(ans), []string{refunds.CodeAbuseFlag, refunds.CodeSpecialOffer}) {
			t.Errorf("flagged account: %+v", ans)
		}
		sg, err := st.svc.RemoveFlag(ctx, shop, "56", FlagRequest{Kind: "trial_abuse", Reason: "mistaken identity"}, "officer:olga")
		if err != nil || len(sg.Flags) != 0 {
			t.Fatalf("removing the flag: %+v, %v", sg.Flags, err)
		}
		// Missing fields, future times: 400 before anything is read.
		if _, err := st.svc.RefundEligibility(ctx, acc, "S-1", refunds.Request{Reason: refunds.WhyOutage}, "key:shop"); !errors.Is(err, refunds.ErrInvalidInput) {
			t.Errorf("outage without its fields: %v", err)
		}
		// Another key's order is not found.
		now := refunds.Request{Reason: refunds.WhyFailure, FailureAt: st.now().Format(time.RFC3339)}
		if _, err := st.svc.RefundEligibility(ctx, Access{Owner: "key:other"}, "S-1", now, "key:other"); !errors.Is(err, screening.ErrNotFound) {
			t.Errorf("another key's order: %v", err)
		}
		// An order stored before issue 11 has no amount: 409.
		old := Record{Version: 1, ScreeningID: "scr_AAAAAAAAAAAAAAAAAAAAAA", OrderID: "OLD-1", Owner: shop, Status: StatusCleared, CreatedAt: t0}
		raw, _ := json.Marshal(old)
		if err := st.rdb.HSet(ctx, st.svc.recordKey(old.ScreeningID), "version", 1, "record", raw).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.svc.RefundEligibility(ctx, acc, old.ScreeningID, now, "key:shop"); !errors.Is(err, refunds.ErrNoOrderFacts) {
			t.Errorf("order without facts: %v", err)
		}
		st.drain(t)
		if n := count(st.audit.actions(), "order.refund_eligibility"); n != 9 {
			t.Errorf("eligibility questions audited %d times", n)
		}
	})
}

// TestExpiredHoldNotRefunded: a hold that expired is not refunded, and its
// timeline says so.
func TestExpiredHoldNotRefunded(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, err := st.svc.Submit(ctx, shop, testOrder("X-1", "88", "x@example.com"))
		if err != nil || res.Status != StatusHeld {
			t.Fatalf("%+v, %v", res, err)
		}
		st.advance(DefaultExpireAfter + time.Minute)
		if _, err := st.svc.Expire(ctx, 100); err != nil {
			t.Fatal(err)
		}
		_, tl, _, err := st.svc.Timeline(ctx, Access{Officer: true}, res.ScreeningID, 0, 10)
		if err != nil || tl[len(tl)-1].Detail != "hold expired: verification was not completed, the order is not activated and not refunded" {
			t.Fatalf("timeline %+v, %v", tl, err)
		}
		ans, err := st.svc.RefundEligibility(ctx, Access{Officer: true}, res.ScreeningID,
			refunds.Request{Reason: refunds.WhyWithdrawn, PeriodStart: st.now().Add(-time.Hour).Format(time.RFC3339), PeriodEnd: st.now().Add(time.Hour).Format(time.RFC3339)}, "officer:olga")
		if err != nil || ans.Eligible || !slices.Equal(answerCodes(ans), []string{refunds.CodeHoldExpired}) {
			t.Errorf("expired hold: %+v, %v", ans, err)
		}
	})
}

func isField(err error, field string) bool {
	fe, ok := errors.AsType[*screening.FieldError](err)
	return ok && fe.Field == field
}

// TestFlaggedForTermination is the pure transition.
func TestFlaggedForTermination(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	held := Record{Version: 3, ScreeningID: "scr_x", Status: StatusHeld, HoldUntil: now.Add(time.Hour),
		Requirements: Requirements{EmailVerification: Pending, KYC: Done, ManualReview: NotRequired}}
	c, err := FlaggedForTermination(held, "chargeback on order A", now)
	if err != nil {
		t.Fatal(err)
	}
	want := Requirements{EmailVerification: NotRequired, KYC: Done, ManualReview: NotRequired}
	if c.Next.Status != StatusRejected || c.Next.Version != 4 || c.Next.Requirements != want || !c.Next.HoldUntil.IsZero() ||
		!slices.Equal(c.Events, []string{events.OrderFlaggedForTermination, events.OrderRejected}) || !slices.Equal(reasonCodes(c.Next.Reasons), []string{"account_restricted"}) {
		t.Errorf("held: %+v", c)
	}
	if _, err := FlaggedForTermination(c.Next, "again", now); !errors.Is(err, ErrNoChange) {
		t.Errorf("twice: %v", err)
	}
	cleared := Record{Version: 1, Status: StatusCleared}
	c, err = FlaggedForTermination(cleared, "chargeback", now)
	if err != nil || c.Next.Status != StatusCleared || c.Next.Termination == nil || !slices.Equal(c.Events, []string{events.OrderFlaggedForTermination}) {
		t.Errorf("cleared: %+v, %v", c, err)
	}
}
