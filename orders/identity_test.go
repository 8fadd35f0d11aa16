package orders

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

// fakeKYCLinks stands in for the kyc package's link minting (tested
// there): a link naming the account, so tests see whose it is.
type fakeKYCLinks struct{}

func (fakeKYCLinks) KYCLink(owner, account, name, email string) (string, error) {
	return fakeKYCLink(Owner(owner), account), nil
}

func fakeKYCLink(owner Owner, account string) string {
	return "https://shop.example/_gateway/kyc?token=" + string(owner) + "/" + account
}

// TestKYCTransitions: the pure transitions of a KYC case on an order.
func TestKYCTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		r       Record
		apply   func(Record) (Change, error)
		noop    bool
		status  Status
		reqs    Requirements
		events  []string
		reasons []string
	}{
		{
			name: "submitted on a kyc hold: timeline only", r: held(req(NotRequired, Pending, NotRequired)),
			apply:  func(r Record) (Change, error) { return KYCNoted(r, "m1", "C", "customer", t0) },
			status: StatusHeld, reqs: req(NotRequired, Pending, NotRequired),
		},
		{
			name: "submitted twice: no change", r: func() Record { r := held(req(NotRequired, Pending, NotRequired)); r.Seen = []string{"m1"}; return r }(),
			apply: func(r Record) (Change, error) { return KYCNoted(r, "m1", "C", "customer", t0) }, noop: true,
		},
		{
			name: "submitted, kyc not pending", r: held(req(Pending, NotRequired, NotRequired)),
			apply: func(r Record) (Change, error) { return KYCNoted(r, "m1", "C", "customer", t0) }, noop: true,
		},
		{
			name: "rejected: order rejected, others not required", r: held(req(Pending, Pending, Pending)),
			apply:  func(r Record) (Change, error) { return KYCRejected(r, "C", "forged document", "officer:o", t0) },
			status: StatusRejected, reqs: req(NotRequired, NotRequired, NotRequired), events: []string{events.OrderRejected},
			reasons: []string{codeKYCRejected},
		},
		{
			name: "rejected, kyc done already", r: held(req(Pending, Done, NotRequired)),
			apply: func(r Record) (Change, error) { return KYCRejected(r, "C", "x", "officer:o", t0) }, noop: true,
		},
		{
			name: "rejected, order final", r: func() Record { r := held(req(NotRequired, Pending, NotRequired)); r.Status = StatusCleared; return r }(),
			apply: func(r Record) (Change, error) { return KYCRejected(r, "C", "x", "officer:o", t0) }, noop: true,
		},
		{
			name: "verified: kyc done and cleared", r: held(req(NotRequired, Pending, NotRequired)),
			apply:  func(r Record) (Change, error) { return Complete(r, ReqKYC, "officer:o", t0) },
			status: StatusCleared, reqs: req(NotRequired, Done, NotRequired), events: []string{events.OrderCleared},
		},
		{
			name: "verified, email still pending: held", r: held(req(Pending, Pending, NotRequired)),
			apply:  func(r Record) (Change, error) { return Complete(r, ReqKYC, "officer:o", t0) },
			status: StatusHeld, reqs: req(Pending, Done, NotRequired),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.apply(tc.r)
			if tc.noop {
				if !errors.Is(err, ErrNoChange) {
					t.Errorf("err = %v, want ErrNoChange", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Next.Status != tc.status || c.Next.Requirements != tc.reqs || c.Next.Version != tc.r.Version+1 {
				t.Errorf("got %s %+v v%d, want %s %+v v%d", c.Next.Status, c.Next.Requirements, c.Next.Version, tc.status, tc.reqs, tc.r.Version+1)
			}
			if strings.Join(c.Events, ",") != strings.Join(tc.events, ",") {
				t.Errorf("events = %v, want %v", c.Events, tc.events)
			}
			var codes []string
			for _, r := range c.Next.Reasons {
				codes = append(codes, r.Code)
			}
			if strings.Join(codes, ",") != strings.Join(tc.reasons, ",") {
				t.Errorf("reasons = %v, want %v", codes, tc.reasons)
			}
			if tc.status != StatusHeld && !c.Next.HoldUntil.IsZero() {
				t.Errorf("final order keeps HoldUntil %v", c.Next.HoldUntil)
			}
		})
	}
}

// TestIdentityLifecycle: on standalone Redis and the Cluster, a held
// order waiting on KYC gets an account-bound link; a submission is a
// timeline line once; approval clears it (order.cleared) and marks the
// account, whose later orders skip KYC under an expression policy;
// rejection rejects another account's held order. An order without an
// account id gets no link and stays held.
func TestIdentityLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		off := false
		st := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: "score >= 0", EmailVerification: &off}, "p1")
		ctx := context.Background()
		o, err := st.svc.Submit(ctx, shop, testOrder("I-1", "501", "a@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != StatusHeld || o.Requirements.KYC != Pending || o.Links["kyc"] != fakeKYCLink(shop, "501") {
			t.Fatalf("order: %+v", o)
		}
		anon := testOrder("I-anon", "", "anon@example.com")
		a, err := st.svc.Submit(ctx, shop, anon)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != StatusHeld || a.Requirements.KYC != Pending || a.Links["kyc"] != "" {
			t.Fatalf("order without account: %+v, want held with no kyc link", a)
		}
		for range 2 { // the relay may deliver twice
			if err := st.svc.KYCSubmitted(ctx, string(shop), "501", "CASE", 1, "customer"); err != nil {
				t.Fatal(err)
			}
		}
		_, tl, _, err := st.svc.Timeline(ctx, Access{Owner: shop}, "I-1", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range tl {
			if e.Type == "kyc_submitted" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d kyc_submitted timeline lines, want 1: %+v", n, tl)
		}
		for range 2 {
			if err := st.svc.IdentityVerified(ctx, string(shop), "501", "CASE", "officer:olga"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.svc.Get(ctx, Access{Owner: shop}, "I-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusCleared || got.Requirements.KYC != Done {
			t.Errorf("after approval: %+v, want cleared with kyc done", got)
		}
		later, err := st.svc.Submit(ctx, shop, testOrder("I-2", "501", "a@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if later.Requirements.KYC != NotRequired || later.Status != StatusCleared {
			t.Errorf("later order of a verified account: %+v, want no kyc", later)
		}

		r, err := st.svc.Submit(ctx, shop, testOrder("I-3", "502", "b@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.svc.IdentityRejected(ctx, string(shop), "502", "CASE2", "document forged", "officer:olga"); err != nil {
			t.Fatal(err)
		}
		rej, err := st.svc.Get(ctx, Access{Owner: shop}, r.ScreeningID)
		if err != nil {
			t.Fatal(err)
		}
		if rej.Status != StatusRejected || len(rej.Reasons) == 0 || rej.Reasons[len(rej.Reasons)-1].Code != codeKYCRejected {
			t.Errorf("after rejection: %+v", rej)
		}
		st.drain(t)
		types := map[string]int{}
		for _, e := range st.published(t) {
			types[e.Type]++
		}
		if types[events.OrderCleared] < 2 || types[events.OrderRejected] != 1 {
			t.Errorf("published %v, want order.cleared for I-1 and I-2, order.rejected for I-3", types)
		}
		if err := st.svc.IdentityVerified(ctx, "nobody", "1", "C", "x"); !errors.Is(err, screening.ErrInvalidInput) {
			t.Errorf("bad owner: %v", err)
		}
	})
}
