package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

const shop = Owner("key:shop")

var emailOnly = HoldsConfig{KYCWhen: KYCNever}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func eventTypes(evs []events.Stored, sid string) []string {
	var out []string
	for _, e := range evs {
		var d struct {
			ScreeningID string `json:"screening_id"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if sid == "" || d.ScreeningID == sid {
			out = append(out, e.Type)
		}
	}
	return out
}

// TestLifecycleEmailVerification is the "done when" at the package
// level, on a standalone server and on the Cluster: an order with an
// unverified email is held with a verify_email link, the mail is
// requested, the verification clears it, the timeline and the audit log
// show each step, and the outbox gets order.held, email.verified and
// order.cleared once each, through the relay.
func TestLifecycleEmailVerification(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, err := st.svc.Submit(ctx, shop, testOrder("INV-1", "42", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		want := Requirements{EmailVerification: Pending, KYC: NotRequired, ManualReview: NotRequired}
		if res.Status != StatusHeld || res.Requirements != want || res.Links["verify_email"] == "" || res.Links["kyc"] != "" {
			t.Fatalf("new order: %+v", res)
		}
		// A replay answers the same, and commits nothing.
		again, err := st.svc.Submit(ctx, shop, testOrder("INV-1", "42", "ann@example.com"))
		if err != nil || !cmp.Equal(again, res) {
			t.Fatalf("replay: %+v, %v; want %+v", again, err, res)
		}
		st.drain(t)
		if diff := cmp.Diff([]string{"key:shop|42|ann@example.com|" + res.ScreeningID}, st.mailer.refs); diff != "" {
			t.Errorf("mail requests (-want +got):\n%s", diff)
		}
		// Another address of the account does not verify this order.
		if err := st.svc.EmailVerified(ctx, string(shop), "42", "other@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.svc.Get(ctx, Access{Owner: shop}, "INV-1"); got.Status != StatusHeld {
			t.Fatalf("verified with another address: %+v", got)
		}
		// The same verification twice: idempotent.
		for range 2 {
			if err := st.svc.EmailVerified(ctx, string(shop), "42", "ann@example.com", "customer"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.svc.Get(ctx, Access{Owner: shop}, "INV-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusCleared || got.Requirements.EmailVerification != Done || len(got.Links) != 0 {
			t.Fatalf("after verification: %+v", got)
		}
		st.drain(t)
		// Shards relay independently: the account's email.verified and the
		// order's events keep no order between them. Each verified address
		// (other@ above, then ann@) is one email.verified.
		if diff := cmp.Diff([]string{events.EmailVerified, events.EmailVerified, events.OrderCleared, events.OrderHeld}, sorted(eventTypes(st.published(t), ""))); diff != "" {
			t.Errorf("published events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"email.verified", "email.verified", "order.created", "order.requirement_done"}, sorted(st.audit.actions())); diff != "" {
			t.Errorf("audit actions (-want +got):\n%s", diff)
		}
		_, tl, next, err := st.svc.Timeline(ctx, Access{Officer: true}, res.ScreeningID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range tl {
			types = append(types, fmt.Sprintf("%s v%d %s", e.Type, e.Version, e.Actor))
		}
		if diff := cmp.Diff([]string{"screened v1 system", "requirement_done v2 customer"}, types); diff != "" || next != -1 {
			t.Errorf("timeline (-want +got), next %d:\n%s", next, diff)
		}
		// A later order of the verified account is not asked again.
		later, err := st.svc.Submit(ctx, shop, testOrder("INV-2", "42", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if later.Status != StatusCleared || later.Requirements.EmailVerification != NotRequired {
			t.Errorf("order of a verified account: %+v", later)
		}
		// Verification belongs to the address, not the account: an order of
		// the same account with an address it never verified is held.
		stranger, err := st.svc.Submit(ctx, shop, testOrder("INV-3", "42", "stranger@example.net"))
		if err != nil {
			t.Fatal(err)
		}
		if stranger.Status != StatusHeld || stranger.Requirements.EmailVerification != Pending {
			t.Errorf("order of a verified account with an unverified address: %+v", stranger)
		}
	})
}

// TestLifecycleEmailVerificationWithoutAccount: an order that came without
// an account id (an intercepted checkout whose form maps none) gets its
// link and mail, and verifying its address clears it; the address stands
// for the account, so it does not verify an account that has an id, nor
// another owner's orders of the same address.
func TestLifecycleEmailVerificationWithoutAccount(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		submit := func(owner Owner, id, account, email string) Result {
			t.Helper()
			return st.submitApart(t, owner, id, account, email)
		}
		anon := submit(shop, "INV-1", "", "ann@example.com")
		if anon.Status != StatusHeld || anon.Requirements.EmailVerification != Pending || anon.Links["verify_email"] == "" {
			t.Fatalf("order without an account id: %+v", anon)
		}
		withID := submit(shop, "INV-2", "42", "ann@example.com")
		otherOwner := submit(CheckoutOwner, "INV-1", "", "ann@example.com")
		otherAddr := submit(shop, "INV-3", "", "bob@example.com")
		st.drain(t)
		if diff := cmp.Diff(sorted([]string{
			"key:shop||ann@example.com|" + anon.ScreeningID,
			"key:shop|42|ann@example.com|" + withID.ScreeningID,
			"checkout||ann@example.com|" + otherOwner.ScreeningID,
			"key:shop||bob@example.com|" + otherAddr.ScreeningID,
		}), sorted(st.mailer.refs)); diff != "" {
			t.Errorf("mail requests (-want +got):\n%s", diff)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "", "ann@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			owner Owner
			sid   string
			want  Status
		}{
			{shop, anon.ScreeningID, StatusCleared},
			{shop, withID.ScreeningID, StatusHeld},              // an account with an id verifies as itself
			{CheckoutOwner, otherOwner.ScreeningID, StatusHeld}, // another owner
			{shop, otherAddr.ScreeningID, StatusHeld},           // another address
		} {
			got, err := st.svc.Get(ctx, Access{Officer: true}, c.sid)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != c.want {
				t.Errorf("%s %s: status %s, want %s", c.owner, c.sid, got.Status, c.want)
			}
		}
		// The address verified once does not stand for the owner's later
		// orders without an account id (issue 12/8): anyone can type it,
		// so each is confirmed by the mailbox owner.
		if later := submit(shop, "INV-4", "", "ann@example.com"); later.Status != StatusHeld || later.Requirements.EmailVerification != Pending {
			t.Errorf("later order of the verified address: %+v, want held on email verification", later)
		}
		if got := submit(shop, "INV-5", "", "bob@example.com"); got.Status != StatusHeld {
			t.Errorf("order of an unverified address: %+v", got)
		}
	})
}

// TestRaceClearsOnce: an officer's review and the email verification of
// the same order, from two gateway processes (two clients, two services),
// at the same moment, many times: each order ends cleared with exactly one
// order.cleared; two officers reviewing at once: one wins, one conflict.
func TestRaceClearsOnce(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		a := newStack(t, clients(), prefix, emailOnly, "p1")
		b := newStack(t, clients(), prefix, emailOnly, "p2")
		ctx := context.Background()
		const n = 20
		sids := make([]string, n)
		for i := range n {
			o := testOrder(fmt.Sprintf("RACE-%d", i), fmt.Sprintf("acct-%d", i), fmt.Sprintf("c%d@example.com", i))
			// Apart, so that velocity rules do not reject them.
			o.IP = fmt.Sprintf("198.51.%d.7", 100+i)
			o.Payment.CardLast4 = fmt.Sprintf("%04d", 1000+i)
			o.Billing.Address = fmt.Sprintf("%d Main St", i)
			res, err := a.svc.Submit(ctx, shop, o)
			if err != nil {
				t.Fatal(err)
			}
			sids[i] = res.ScreeningID
			if err := a.svc.setRequirement(ctx, res.ScreeningID, ReqReview); err != nil {
				t.Fatal(err)
			}
		}
		accept := ManualReview{Decision: screening.Accept, Reason: "known customer"}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var reviewed, conflicts int
		for i, sid := range sids {
			wg.Add(3)
			review := func(st *stack, officer string) {
				defer wg.Done()
				_, err := st.svc.Review(ctx, Access{Officer: true}, sid, accept, officer)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					reviewed++
				case errors.Is(err, screening.ErrConflict):
					conflicts++
				default:
					t.Errorf("review of %s: %v", sid, err)
				}
			}
			go review(a, "ann")
			go review(b, "bob")
			go func() {
				defer wg.Done()
				if err := b.svc.EmailVerified(ctx, string(shop), fmt.Sprintf("acct-%d", i), fmt.Sprintf("c%d@example.com", i), "customer"); err != nil {
					t.Errorf("verification of %s: %v", sid, err)
				}
			}()
		}
		wg.Wait()
		if reviewed != n || conflicts != n {
			t.Errorf("%d reviews succeeded, %d conflicts; want %d each", reviewed, conflicts, n)
		}
		// Both processes relay.
		a.drain(t)
		b.drain(t)
		a.drain(t)
		evs := a.published(t)
		for _, sid := range sids {
			got, err := a.svc.Get(ctx, Access{Officer: true}, sid)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusCleared {
				t.Errorf("%s: %s, want cleared", sid, got.Status)
			}
			if diff := cmp.Diff([]string{events.OrderHeld, events.OrderCleared}, eventTypes(evs, sid)); diff != "" {
				t.Errorf("%s events (-want +got):\n%s", sid, diff)
			}
		}
	})
}

// setRequirement puts n back to pending on a held order, through the
// commit path: screening decides manual review only for risky orders, and
// the test wants it on every one.
func (s *Service) setRequirement(ctx context.Context, sid string, n ReqName) error {
	r, err := s.load(ctx, sid)
	if err != nil {
		return err
	}
	_, err = s.apply(ctx, r, "test.setup", func(r Record) (Change, []pending, error) {
		next := bump(r, s.now())
		*next.Requirements.get(n) = Pending
		return Change{Next: next, Entry: entry(s.now(), "setup", "", "", "test")}, nil, nil
	})
	return err
}

// TestExpiry: a hold past holds.expire_after moves to expired with
// order.expired, once, whichever process runs the worker; a cleared order
// never expires.
func TestExpiry(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, ExpireAfter: time.Hour}, "p1")
		other := newStack(t, clients(), prefix, HoldsConfig{KYCWhen: KYCNever, ExpireAfter: time.Hour}, "p2")
		ctx := context.Background()
		stale, err := st.svc.Submit(ctx, shop, testOrder("EXP-1", "7", "x@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		done, err := st.svc.Submit(ctx, shop, testOrder("EXP-2", "8", "y@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "8", "y@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		if n, err := st.svc.Expire(ctx, 100); err != nil || n != 0 {
			t.Fatalf("before the deadline: %d expired, %v", n, err)
		}
		st.advance(time.Hour)
		other.advance(time.Hour)
		var wg sync.WaitGroup
		var moved [2]int
		for i, s := range []*stack{st, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.svc.Expire(ctx, 100)
				if err != nil {
					t.Error(err)
				}
				moved[i] = n
			}()
		}
		wg.Wait()
		if moved[0]+moved[1] != 1 {
			t.Errorf("expired %v, want 1 in all", moved)
		}
		if got, _ := st.svc.Get(ctx, Access{Officer: true}, stale.ScreeningID); got.Status != StatusExpired {
			t.Errorf("stale hold: %s", got.Status)
		}
		if got, _ := st.svc.Get(ctx, Access{Officer: true}, done.ScreeningID); got.Status != StatusCleared {
			t.Errorf("cleared order: %s", got.Status)
		}
		st.drain(t)
		if diff := cmp.Diff([]string{events.OrderHeld, events.OrderExpired}, eventTypes(st.published(t), stale.ScreeningID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestAuditNamesTheCaller: each change's audit entry says from which
// network it was asked for (the client address in the context, masked as
// in logs), and the account, also for an order that came without an
// account id; the gateway's own work (expiry) names none.
func TestAuditNamesTheCaller(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		from := func(ip string) context.Context {
			return clientip.NewContext(context.Background(), netip.MustParseAddr(ip))
		}
		a, err := st.svc.Submit(from("198.51.100.7"), shop, testOrder("INV-1", "", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.svc.EmailVerified(from("2001:db8:1:2::9"), string(shop), "", "ann@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		b, err := st.svc.Submit(from("192.0.2.10"), shop, testOrder("INV-2", "7", "bob@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		st.advance(DefaultExpireAfter + time.Minute)
		if _, err := st.svc.Expire(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		st.drain(t)
		type seen struct{ Action, Addr, Account string }
		got := map[string]seen{}
		for id, e := range st.audit.entries {
			got[id] = seen{e.Action, e.Addr, e.Account}
		}
		emailAccount := emailRef(shop, st.svc.emailHash("ann@example.com"))
		want := map[string]seen{
			a.ScreeningID + "/v1": {"order.created", "198.51.100.0/24", emailAccount},
			a.ScreeningID + "/v2": {"order.requirement_done", "2001:db8:1::/48", emailAccount},
			b.ScreeningID + "/v1": {"order.created", "192.0.2.0/24", "key:shop/7"},
			b.ScreeningID + "/v2": {"order.expired", "", "key:shop/7"},
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("audit entry %s = %+v, want %+v", id, got[id], w)
			}
		}
	})
}
