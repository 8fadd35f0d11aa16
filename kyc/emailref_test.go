package kyc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestEmailReferenceCase: on standalone Redis and the Cluster, a case of
// orders without an account id is bound to the owner's email reference:
// its link, case, duplicate index, decisions, resubmission link and
// erasure all name "email:<owner>/<hash>", never an account. A
// storefront's account id spelled like that reference is an account of
// its own: its approved case neither verifies the reference nor blocks
// its upload, and its documents flag the reference's as another
// account's. The same address under another owner is another identity.
func TestEmailReferenceCase(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := newEnv(t, rdb, prefix, Config{}, "", "p1")
		ctx := context.Background()
		const hash = "EMAILHASH0123456789"
		ref := "email:key:shop/" + hash

		// The storefront's crafted account id: approved first.
		crafted, _ := e.svc.KYCLink("key:shop", ref, "Ann Lee", "ann@example.com")
		b, ct := body(t, idCard(t, "Ann Lee", 21)...)
		if rec := e.post(t, crafted, b, ct); rec.Code != 200 {
			t.Fatalf("crafted account's upload: %d %s", rec.Code, rec.Body)
		}
		cc := e.caseOf(t, crafted)
		if cc.Ref() != "key:shop/"+ref || cc.EmailHash != "" {
			t.Fatalf("crafted account's case names %q (email hash %q)", cc.Ref(), cc.EmailHash)
		}
		if _, err := e.svc.Approve(ctx, cc.ID, Decision{}, "officer:olga", ""); err != nil {
			t.Fatal(err)
		}

		link, err := e.svc.KYCEmailLink("key:shop", hash, "Ann Lee", "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if rec := e.get(t, link); rec.Code != 200 || !strings.Contains(rec.Body.String(), `enctype="multipart/form-data"`) {
			t.Fatalf("GET of the email reference's link after the crafted account's approval: %d %s", rec.Code, rec.Body)
		}
		b, ct = body(t, idCard(t, "Ann Lee", 21)...) // the crafted account's files
		if rec := e.post(t, link, b, ct); rec.Code != 200 {
			t.Fatalf("POST: %d %s", rec.Code, rec.Body)
		}
		c := e.caseOf(t, link)
		if c.Ref() != ref || c.Account != "" || c.EmailHash != hash || c.Owner != "key:shop" {
			t.Fatalf("case %+v names %q, want %q", c, c.Ref(), ref)
		}
		if !slices.ContainsFunc(c.Reasons, func(r Reason) bool {
			return r.Code == ReasonDuplicateDocument && strings.Contains(r.Detail, "key:shop/"+ref)
		}) {
			t.Errorf("reasons %+v: the crafted account's documents are another account's", c.Reasons)
		}
		v, err := e.svc.Get(ctx, c.ID)
		if err != nil || v.Reference != ref {
			t.Fatalf("view: reference %q, %v", v.Reference, err)
		}

		// A resubmission keeps the reference; approval tells the orders.
		_, again, err := e.svc.RequestResubmission(ctx, c.ID, Decision{Reason: "blurred"}, "officer:olga", "")
		if err != nil {
			t.Fatal(err)
		}
		e.relay(t)
		if len(e.mail.msgs) != 1 || e.mail.msgs[0].To != "ann@example.com" || !strings.Contains(e.mail.msgs[0].Text, again) {
			t.Fatalf("resubmission mail %+v", e.mail.msgs)
		}
		if claims, err := e.svc.tokens.Parse(tokenOf(t, again)); err != nil || claims.Ref() != ref || claims.Case != c.ID {
			t.Fatalf("resubmission link: %+v %v", claims, err)
		}
		b, ct = body(t, idCard(t, "Ann Lee", 22)...)
		if rec := e.post(t, again, b, ct); rec.Code != 200 {
			t.Fatalf("resubmission: %d %s", rec.Code, rec.Body)
		}
		if _, err := e.svc.Approve(ctx, c.ID, Decision{}, "officer:olga", ""); err != nil {
			t.Fatal(err)
		}
		e.relay(t)
		got := e.orders.seen()
		for _, want := range []string{"submitted " + ref + " " + c.ID + " #1 by customer", "submitted " + ref + " " + c.ID + " #2 by customer",
			"verified " + ref + " " + c.ID + " by officer:olga", "verified key:shop/" + ref + " " + cc.ID + " by officer:olga"} {
			if !slices.Contains(got, want) {
				t.Errorf("orders told %q, want %q among them", got, want)
			}
		}
		for _, id := range e.audit.order {
			if a := e.audit.entries[id].Account; a != ref && a != "key:shop/"+ref {
				t.Errorf("audit entry %s names account %q", id, a)
			}
		}

		// The reference is verified now: a new link of it says so, one of
		// the same address under another owner does not.
		verified, _ := e.svc.KYCEmailLink("key:shop", hash, "Ann Lee", "")
		if rec := e.get(t, verified); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already confirmed") {
			t.Errorf("new link of the verified reference: %d %s", rec.Code, rec.Body)
		}
		other, _ := e.svc.KYCEmailLink("checkout", hash, "Ann Lee", "")
		if rec := e.get(t, other); rec.Code != 200 {
			t.Errorf("link of the address under another owner: %d %s", rec.Code, rec.Body)
		}

		// Erasure by case reaches the reference's case only.
		if n, err := e.svc.EraseCase(ctx, c.ID, "admin:adam", ""); err != nil || n != 1 {
			t.Fatalf("EraseCase = %d, %v; want 1 case", n, err)
		}
		if k, _ := e.svc.load(ctx, c.ID); !k.Redacted {
			t.Errorf("the reference's case is not redacted")
		}
		if k, _ := e.svc.load(ctx, cc.ID); k.Redacted {
			t.Errorf("the crafted account's case was redacted with the reference's")
		}
		if n, err := e.svc.Erase(ctx, "key:shop", ref, "admin:adam", ""); err != nil || n != 1 {
			t.Errorf("Erase of the crafted account = %d, %v; want its own case", n, err)
		}
		if _, err := e.svc.EraseCase(ctx, newID(), "admin:adam", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("EraseCase of no case: %v", err)
		}
	})
}

// TestEmailLinkArguments: a link needs an owner and an email reference
// that can stand in a reference; an owner spelled like an email
// reference is refused so that no account reference can read as one.
func TestEmailLinkArguments(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{}, "", "p1")
	for _, tc := range []struct{ owner, account, hash string }{
		{"", "", "H"}, {"key:shop", "", ""}, {"key:shop", "", "a/b"}, {"email:key:shop", "", "H"}, {"email:x", "1", ""},
	} {
		var err error
		if tc.account != "" {
			_, err = e.svc.KYCLink(tc.owner, tc.account, "", "")
		} else {
			_, err = e.svc.KYCEmailLink(tc.owner, tc.hash, "", "")
		}
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("link(owner %q, account %q, hash %q) = %v, want ErrInvalidInput", tc.owner, tc.account, tc.hash, err)
		}
	}
}
