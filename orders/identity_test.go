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
// there): a link naming the account reference, so tests see whose it is.
type fakeKYCLinks struct{}

func (fakeKYCLinks) KYCLink(owner, account, name, email string) (string, error) {
	return fakeKYCLink(Owner(owner), account), nil
}

func (fakeKYCLinks) KYCEmailLink(owner, emailHash, name, email string) (string, error) {
	return "https://shop.example/_gateway/kyc?token=" + emailRef(Owner(owner), emailHash), nil
}

func fakeKYCLink(owner Owner, account string) string {
	return "https://shop.example/_gateway/kyc?token=" + accountRef(owner, account)
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
// rejection rejects another account's held order. (An order without an
// account id: TestIdentityWithoutAccount.)
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
		for range 2 { // the relay may deliver twice
			if err := st.svc.KYCSubmitted(ctx, string(shop), "501", "", "CASE", 1, "customer"); err != nil {
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
			if err := st.svc.IdentityVerified(ctx, string(shop), "501", "", "CASE", "officer:olga"); err != nil {
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
		if err := st.svc.IdentityRejected(ctx, string(shop), "502", "", "CASE2", "document forged", "officer:olga"); err != nil {
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
		for _, bad := range [][3]string{{"nobody", "1", ""}, {string(shop), "", ""}, {string(shop), "1", "HASH"}} {
			if err := st.svc.IdentityVerified(ctx, bad[0], bad[1], bad[2], "C", "x"); !errors.Is(err, screening.ErrInvalidInput) {
				t.Errorf("IdentityVerified(owner %q, account %q, email %q) = %v, want ErrInvalidInput", bad[0], bad[1], bad[2], err)
			}
		}
	})
}

// TestIdentityWithoutAccount: on standalone Redis and the Cluster, with the
// default kyc_when first_order and email verification, an order that came
// without an account id (an intercepted guest checkout) gets a KYC link
// bound to its email reference; the case's decision reaches exactly the
// orders of that reference: approval (with the address verified) clears
// it and the address's later orders skip KYC, while the same address
// under another owner is another identity, and a storefront's account id
// spelled like the email reference ("email:<owner>/<hash>") is an account
// of its own in both directions. Rejection rejects with kyc_rejected, and
// the address's next order asks for documents again.
func TestIdentityWithoutAccount(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, HoldsConfig{}, "p1")
		ctx := context.Background()
		submit := func(owner Owner, id, account, email string) Result {
			t.Helper()
			return st.submitApart(t, owner, id, account, email)
		}
		get := func(sid string) Result {
			t.Helper()
			r, err := st.svc.Get(ctx, Access{Officer: true}, sid)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		const ann = "ann@example.com"
		h := st.svc.emailHash(ann)
		ref := emailRef(shop, h)

		guest := submit(shop, "G-1", "", ann)
		if guest.Status != StatusHeld || guest.Requirements.KYC != Pending || guest.Requirements.EmailVerification != Pending ||
			guest.Links["kyc"] != "https://shop.example/_gateway/kyc?token="+ref {
			t.Fatalf("guest order: %+v, want held on email and kyc with a link bound to %s", guest, ref)
		}
		// A storefront's account id spelled like the email reference.
		crafted := submit(shop, "G-2", ref, ann)
		if crafted.Links["kyc"] != fakeKYCLink(shop, ref) || crafted.Links["kyc"] == guest.Links["kyc"] {
			t.Fatalf("crafted account's link %q, want its own account's, not %q", crafted.Links["kyc"], guest.Links["kyc"])
		}
		elsewhere := submit(CheckoutOwner, "G-1", "", ann)
		if elsewhere.Links["kyc"] != "https://shop.example/_gateway/kyc?token="+emailRef(CheckoutOwner, h) {
			t.Fatalf("the same address under another owner: link %q", elsewhere.Links["kyc"])
		}

		if err := st.svc.KYCSubmitted(ctx, string(shop), "", h, "CASE", 1, "customer"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			sid  string
			want int
		}{{guest.ScreeningID, 1}, {crafted.ScreeningID, 0}, {elsewhere.ScreeningID, 0}} {
			_, tl, _, err := st.svc.Timeline(ctx, Access{Officer: true}, c.sid, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, e := range tl {
				if e.Type == "kyc_submitted" {
					got++
				}
			}
			if got != c.want {
				t.Errorf("order %s: %d kyc_submitted lines, want %d", c.sid, got, c.want)
			}
		}

		// The crafted account's approval is its own: the guest order still
		// waits on KYC once its address is verified.
		if err := st.svc.IdentityVerified(ctx, string(shop), ref, "", "CASE-X", "officer:olga"); err != nil {
			t.Fatal(err)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "", ann, "customer"); err != nil {
			t.Fatal(err)
		}
		if g := get(guest.ScreeningID); g.Status != StatusHeld || g.Requirements.KYC != Pending || g.Requirements.EmailVerification != Done {
			t.Fatalf("guest order after the crafted account's approval: %+v, want held on kyc only", g)
		}
		// The email reference's approval clears the guest order, and
		// neither the crafted account's order (its email is pending) nor
		// the other owner's.
		for range 2 { // the relay may deliver twice
			if err := st.svc.IdentityVerified(ctx, string(shop), "", h, "CASE", "officer:olga"); err != nil {
				t.Fatal(err)
			}
		}
		if g := get(guest.ScreeningID); g.Status != StatusCleared || g.Requirements.KYC != Done {
			t.Errorf("guest order after approval: %+v, want cleared", g)
		}
		if c := get(crafted.ScreeningID); c.Status != StatusHeld || c.Requirements.EmailVerification != Pending {
			t.Errorf("crafted account's order: %+v, want held on its own email verification", c)
		}
		if e := get(elsewhere.ScreeningID); e.Status != StatusHeld || e.Requirements.KYC != Pending {
			t.Errorf("other owner's order: %+v, want held on kyc", e)
		}

		st.drain(t)
		// The address's next order under the same owner: no KYC (the
		// identity is approved), but the address verified before does
		// not stand for it: held until the mailbox owner confirms it.
		next := submit(shop, "G-3", "", ann)
		if next.Status != StatusHeld || next.Requirements.KYC != NotRequired || next.Requirements.EmailVerification != Pending || next.Links["kyc"] != "" {
			t.Errorf("the address's next order: %+v, want held on email verification only", next)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "", ann, "customer"); err != nil {
			t.Fatal(err)
		}
		if g := get(next.ScreeningID); g.Status != StatusCleared {
			t.Errorf("the address's next order, confirmed: %+v, want cleared", g)
		}
		// Another API key's first order of the address: asked again.
		if other := submit(APIKeyOwner("other"), "G-3", "", ann); other.Requirements.KYC != Pending || other.Links["kyc"] == "" {
			t.Errorf("another owner's first order of the address: %+v, want kyc with a link", other)
		}

		// Rejection: the held orders of the reference are rejected.
		const bob = "bob@example.com"
		hb := st.svc.emailHash(bob)
		first := submit(shop, "B-1", "", bob)
		st.drain(t)
		if err := st.svc.IdentityRejected(ctx, string(shop), "", hb, "CASE-B", "document forged", "officer:olga"); err != nil {
			t.Fatal(err)
		}
		r := get(first.ScreeningID)
		if r.Status != StatusRejected || len(r.Reasons) == 0 || r.Reasons[len(r.Reasons)-1].Code != codeKYCRejected {
			t.Errorf("after rejection: %+v, want rejected with %s", r, codeKYCRejected)
		}
		// Its first order was rejected: the next is a first order again.
		if again := submit(shop, "B-2", "", bob); again.Requirements.KYC != Pending {
			t.Errorf("next order after a rejected identity: %+v, want kyc again", again)
		}
		st.drain(t)
		types := map[string]int{}
		for _, e := range st.published(t) {
			types[e.Type]++
		}
		if types[events.OrderCleared] != 2 || types[events.OrderRejected] != 1 {
			t.Errorf("published %v, want order.cleared for G-1 and G-3, order.rejected for B-1", types)
		}
	})
}
