package orders

import (
	"context"
	"strings"
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
		{"always", HoldsConfig{KYCWhen: KYCAlways}, o, calm, accountState{Ordered: true}, Needs{Email: true, KYC: true}},
		{"first order (default)", HoldsConfig{}, o, calm, accountState{}, Needs{Email: true, KYC: true}},
		{"second order", HoldsConfig{}, o, calm, accountState{Ordered: true}, Needs{Email: true}},
		{"first order without account", HoldsConfig{}, noAccount, calm, accountState{}, Needs{Email: true, KYC: true}},
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

// TestFirstOrderKYC: with the default first_order, an account's first
// order that is not rejected asks for KYC with a kyc link; once the relay
// marked the account, its next order does not.
func TestFirstOrderKYC(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, HoldsConfig{}, "p1")
		ctx := context.Background()
		first, err := st.svc.Submit(ctx, shop, testOrder("K-1", "77", "k@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if first.Requirements.KYC != Pending || first.Links["kyc"] != fakeKYCLink(shop, "77") {
			t.Fatalf("first order: %+v", first)
		}
		st.drain(t)
		next, err := st.svc.Submit(ctx, shop, testOrder("K-2", "77", "k@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if next.Requirements.KYC != NotRequired || next.Links["kyc"] != "" {
			t.Errorf("second order: %+v", next)
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
