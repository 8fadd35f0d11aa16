package orders

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// TestPolicyNeeds: every holds.kyc_when form, with and without a verified
// or returning account, and email verification on and off.
func TestPolicyNeeds(t *testing.T) {
	t.Parallel()
	off := false
	o := screening.Order{Account: screening.Account{ID: "42"}}
	noAccount := screening.Order{}
	nigeria := screening.Order{Account: screening.Account{ID: "42"}, Billing: screening.Billing{Country: "NG"}}
	risky := screening.Decision{Outcome: screening.Review, Score: 60, Signals: screening.Signals{BillingCountry: "BR"}}
	calm := screening.Decision{Outcome: screening.Accept, Score: 10, Signals: screening.Signals{BillingCountry: "US"}}
	dedicated := screening.Decision{Outcome: screening.Accept, Signals: screening.Signals{ItemCategories: []string{"vps", "dedicated"}}}
	const issueExample = `score >= 40 || billing.country in ["BR", "NG"]`
	tests := []struct {
		name string
		hc   HoldsConfig
		o    screening.Order
		d    screening.Decision
		a    accountState
		want Needs
	}{
		{"never", HoldsConfig{KYCWhen: KYCNever}, o, calm, accountState{}, Needs{Email: true}},
		{"always", HoldsConfig{KYCWhen: KYCAlways}, o, calm, accountState{Cleared: true}, Needs{Email: true, KYC: true}},
		{"first order (default)", HoldsConfig{}, o, calm, accountState{}, Needs{Email: true, KYC: true}},
		{"after a cleared order", HoldsConfig{}, o, calm, accountState{Cleared: true}, Needs{Email: true}},
		{"after an approved identity", HoldsConfig{}, o, calm, accountState{Identity: true, Verified: true}, Needs{}},
		{"account, approved identity, email verification off", HoldsConfig{EmailVerification: &off}, o, calm, accountState{Identity: true}, Needs{}},
		{"first order without account", HoldsConfig{}, noAccount, calm, accountState{}, Needs{Email: true, KYC: true}},
		// An order without an account id: its address's past stands for
		// it only once the mailbox owner confirms this order.
		{"no account, verified address", HoldsConfig{KYCWhen: KYCNever}, noAccount, calm, accountState{Verified: true}, Needs{Email: true}},
		{"no account, verified and approved", HoldsConfig{}, noAccount, calm, accountState{Verified: true, Identity: true}, Needs{Email: true}},
		{"no account, approved, email verification off", HoldsConfig{EmailVerification: &off}, noAccount, calm, accountState{Identity: true}, Needs{Email: true}},
		{"no account, cleared order, email verification off", HoldsConfig{EmailVerification: &off}, noAccount, calm, accountState{Cleared: true}, Needs{Email: true}},
		{"no account, first order, email verification off", HoldsConfig{EmailVerification: &off}, noAccount, calm, accountState{}, Needs{KYC: true}},
		{"no account, expression true, approved, email verification off", HoldsConfig{KYCWhen: `score >= 0`, EmailVerification: &off}, noAccount, calm, accountState{Identity: true}, Needs{Email: true}},
		{"no account, expression false, email verification off", HoldsConfig{KYCWhen: `score > 50`, EmailVerification: &off}, noAccount, calm, accountState{Identity: true}, Needs{}},
		{"no account, always, email verification off", HoldsConfig{KYCWhen: KYCAlways, EmailVerification: &off}, noAccount, calm, accountState{Identity: true}, Needs{KYC: true}},
		{"no account, never, email verification off", HoldsConfig{KYCWhen: KYCNever, EmailVerification: &off}, noAccount, calm, accountState{Verified: true}, Needs{}},
		{"verified account", HoldsConfig{KYCWhen: KYCNever}, o, calm, accountState{Verified: true}, Needs{}},
		{"email verification off", HoldsConfig{KYCWhen: KYCNever, EmailVerification: &off}, o, calm, accountState{}, Needs{}},
		{"signal names, true", HoldsConfig{KYCWhen: `score >= 40 || billing_country in ["BR", "NG"]`}, o, risky, accountState{Verified: true}, Needs{KYC: true}},
		{"signal names, false", HoldsConfig{KYCWhen: `score >= 40 || billing_country in ["BR", "NG"]`}, o, calm, accountState{Verified: true}, Needs{}},
		{"the issue's spelling, by country", HoldsConfig{KYCWhen: issueExample}, nigeria, calm, accountState{Verified: true}, Needs{KYC: true}},
		{"the issue's spelling, false", HoldsConfig{KYCWhen: issueExample}, o, calm, accountState{Verified: true}, Needs{}},
		{"item category", HoldsConfig{KYCWhen: `"dedicated" in item_categories`}, o, dedicated, accountState{Verified: true}, Needs{KYC: true}},
		{"decision", HoldsConfig{KYCWhen: `decision == "review"`}, o, risky, accountState{Verified: true}, Needs{KYC: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.hc.SetDefaults()
			p, err := NewPolicy(tc.hc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.needs(tc.o, tc.d, tc.a)
			if err != nil || got != tc.want {
				t.Errorf("needs = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestHoldsConfigRefusesBadExpression: a kyc_when that is neither a
// keyword nor a boolean expression over known names stops start-up, naming
// the key and the value.
func TestHoldsConfigRefusesBadExpression(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`score >=`, `no_such_signal > 3`, `score + 1`, `first-order`} {
		hc := HoldsConfig{KYCWhen: bad}
		hc.SetDefaults()
		err := hc.Validate()
		if err == nil || !strings.Contains(err.Error(), "kyc_when") || !strings.Contains(err.Error(), bad) {
			t.Errorf("kyc_when %q: %v, want an error naming it", bad, err)
		}
	}
}

// TestFirstOrderKYC: with the default first_order, an account's orders
// ask for KYC, with a kyc link, until one clears: a second order while the
// first is held is asked too (issue 12/8: storing an order used to mark
// the account), the approval clears both, and then the account's next
// order is not asked.
func TestFirstOrderKYC(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		off := false
		st := newStack(t, clients(), prefix, HoldsConfig{EmailVerification: &off}, "p1")
		ctx := context.Background()
		first := st.submitApart(t, shop, "K-1", "77", "k@example.com")
		if first.Requirements.KYC != Pending || first.Links["kyc"] != fakeKYCLink(shop, "77") {
			t.Fatalf("first order: %+v", first)
		}
		st.drain(t)
		second := st.submitApart(t, shop, "K-2", "77", "k@example.com")
		if second.Status != StatusHeld || second.Requirements.KYC != Pending || second.Links["kyc"] == "" {
			t.Fatalf("second order while the first is held: %+v, want held on kyc", second)
		}
		if err := st.svc.IdentityVerified(ctx, string(shop), "77", "", "CASE", "officer:olga"); err != nil {
			t.Fatal(err)
		}
		for _, sid := range []string{first.ScreeningID, second.ScreeningID} {
			if r, err := st.svc.Get(ctx, Access{Owner: shop}, sid); err != nil || r.Status != StatusCleared {
				t.Errorf("order %s after approval: %+v, %v; want cleared", sid, r, err)
			}
		}
		st.drain(t)
		if next := st.submitApart(t, shop, "K-3", "77", "k@example.com"); next.Requirements.KYC != NotRequired || next.Links["kyc"] != "" {
			t.Errorf("order after approval: %+v, want no kyc", next)
		}
		guest := st.submitApart(t, shop, "K-G", "", "g@example.com")
		// An intercepted checkout's order id is made up by the gateway:
		// its mail names no order.
		checkout := st.submitApart(t, CheckoutOwner, screening.GeneratedOrderIDPrefix+"k", "", "c@example.com")
		st.drain(t)
		// Every order whose KYC link was minted has its kyc_request mail
		// requested, with that link; K-3 has none.
		want := []string{
			"key:shop|K-1|k@example.com|" + first.Links["kyc"] + "|" + first.ScreeningID,
			"key:shop|K-2|k@example.com|" + second.Links["kyc"] + "|" + second.ScreeningID,
			"key:shop|K-G|g@example.com|" + guest.Links["kyc"] + "|" + guest.ScreeningID,
			"checkout||c@example.com|" + checkout.Links["kyc"] + "|" + checkout.ScreeningID,
		}
		// The relay delivers shard by shard: in no set order.
		got := st.mailer.kycRequests()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || guest.Links["kyc"] == "" {
			t.Errorf("kyc mail requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestFirstOrderRace: on standalone Redis and the Cluster, gateway
// processes storing orders of one account (and of one email reference) at
// once, each relaying as it goes, in two waves with every relay drained
// between them, none cleared: every order is asked for KYC, whatever the
// relays did meanwhile. An order that cleared (kyc_when never then)
// marks the account, so under first_order its next order is not asked.
func TestFirstOrderRace(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		off := false
		hc := HoldsConfig{EmailVerification: &off}
		const n = 4                // few enough for the velocity rules over two waves
		procs := make([]*stack, n) // one process per order of a wave, its relay too
		for i := range procs {
			procs[i] = newStack(t, clients(), prefix, hc, fmt.Sprintf("p%d", i))
			procs[i].submitted = 10 * i // submitApart: each its own IP, card, address
		}
		for wave := range 2 {
			results := make([]Result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					st := procs[i]
					account, email := "88", "race-88@example.com"
					if i >= n/2 {
						account, email = "", "race@example.com" // a guest checkout: its email reference
					}
					results[i] = st.submitApart(t, shop, fmt.Sprintf("R-%d-%d", wave, i), account, email)
					if _, err := st.relay.RunOnce(context.Background()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for i, r := range results {
				if r.Status != StatusHeld || r.Requirements.KYC != Pending {
					t.Errorf("wave %d, order %d: %s, kyc %s (%v); want held on kyc", wave, i, r.Status, r.Requirements.KYC, r.Reasons)
				}
			}
			for _, st := range procs {
				st.drain(t)
			}
		}

		// A cleared order marks the account for first_order.
		never := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, EmailVerification: &off}, "never")
		never.submitted = 100
		if r := never.submitApart(t, shop, "N-1", "99", "n@example.com"); r.Status != StatusCleared {
			t.Fatalf("kyc_when never: %+v, want cleared", r)
		}
		never.drain(t)
		if r := procs[0].submitApart(t, shop, "N-2", "99", "n@example.com"); r.Requirements.KYC != NotRequired {
			t.Errorf("first_order after a cleared order: %+v, want no kyc", r)
		}
	})
}

// TestExpiryLease: one gateway process at a time holds the expiry lease;
// its renewal keeps it, and a holder that stops renewing (killed) loses it
// after the lease time to the next process.
func TestExpiryLease(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		ctx := context.Background()
		a := lease{rdb: clients(), key: prefix + "orders:expiry-lease", owner: "p1", ttl: 300 * time.Millisecond}
		b := a
		b.owner = "p2"
		for i, step := range []struct {
			l    lease
			want bool
		}{{a, true}, {b, false}, {a, true}, {b, false}} {
			if got, err := step.l.hold(ctx); err != nil || got != step.want {
				t.Fatalf("step %d (%s): %v, %v; want %v", i, step.l.owner, got, err, step.want)
			}
		}
		time.Sleep(400 * time.Millisecond) // p1 stopped renewing
		if got, err := b.hold(ctx); err != nil || !got {
			t.Fatalf("p2 after p1's lease lapsed: %v, %v", got, err)
		}
		if got, err := a.hold(ctx); err != nil || got {
			t.Fatalf("p1 back while p2 holds it: %v, %v", got, err)
		}
	})
}
