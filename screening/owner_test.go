package screening

import (
	"context"
	"errors"
	"testing"
)

// TestOrderNamespaces (issue 7, finding 8): the same order_id under two
// owners is two orders, each screened, counted and stored on its own; an
// owner sees only its own orders and the intercepted checkouts (by
// screening id), an officer every order.
func TestOrderNamespaces(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	shop, other := APIKeyOwner("shop"), APIKeyOwner("other")

	visitor := exampleOrderValue()
	visitor.Account.Email = "mallory@example.com"
	byVisitor, err := svc.Submit(ctx, CheckoutOwner, visitor)
	if err != nil {
		t.Fatalf("Submit(checkout) = %v", err)
	}
	byShop, err := svc.Submit(ctx, shop, exampleOrderValue())
	if err != nil {
		t.Fatalf("Submit(shop, same order_id, other body) = %v, want its own order", err)
	}
	byOther, err := svc.Submit(ctx, other, exampleOrderValue())
	if err != nil {
		t.Fatalf("Submit(other key) = %v", err)
	}
	sids := map[string]bool{byVisitor.ScreeningID: true, byShop.ScreeningID: true, byOther.ScreeningID: true}
	if len(sids) != 3 {
		t.Fatalf("screening ids %q, %q, %q are not distinct", byVisitor.ScreeningID, byShop.ScreeningID, byOther.ScreeningID)
	}
	for _, res := range []Result{byVisitor, byShop, byOther} {
		if !IsScreeningID(res.ScreeningID) || res.OrderID != "INV-1001" {
			t.Errorf("result %+v: want a screening id and order_id INV-1001", res)
		}
	}
	// Each was screened and counted as an order of its own, under its
	// screening id.
	var counted []string
	for _, o := range f.velocity.recorded() {
		counted = append(counted, o.ID)
	}
	if len(counted) != 3 || counted[0] != byVisitor.ScreeningID || counted[1] != byShop.ScreeningID || counted[2] != byOther.ScreeningID {
		t.Errorf("velocity counted %q, want the three screening ids", counted)
	}

	tests := []struct {
		name string
		a    Access
		id   string
		want string // screening id found, "" for not found
		err  error
	}{
		{"shop by order_id", Access{Owner: shop}, "INV-1001", byShop.ScreeningID, nil},
		{"shop by its screening id", Access{Owner: shop}, byShop.ScreeningID, byShop.ScreeningID, nil},
		{"shop by the checkout's screening id", Access{Owner: shop}, byVisitor.ScreeningID, byVisitor.ScreeningID, nil},
		{"shop by another key's screening id", Access{Owner: shop}, byOther.ScreeningID, "", ErrNotFound},
		{"other by order_id", Access{Owner: other}, "INV-1001", byOther.ScreeningID, nil},
		{"other by the shop's screening id", Access{Owner: other}, byShop.ScreeningID, "", ErrNotFound},
		{"checkout namespace by order_id", Access{Owner: CheckoutOwner}, "INV-1001", byVisitor.ScreeningID, nil},
		{"officer by screening id", Access{Officer: true}, byOther.ScreeningID, byOther.ScreeningID, nil},
		{"officer by order_id alone", Access{Officer: true}, "INV-1001", "", ErrInvalidInput},
		{"officer by order_id and owner", Access{Officer: true, Owner: CheckoutOwner}, "INV-1001", byVisitor.ScreeningID, nil},
		{"unknown order", Access{Owner: shop}, "INV-9999", "", ErrNotFound},
		{"made-up screening id", Access{Officer: true}, "scr_AAAAAAAAAAAAAAAAAAAAAA", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := svc.Get(ctx, tt.a, tt.id)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Errorf("Get(%+v, %s) = %+v, %v, want %v", tt.a, tt.id, got, err, tt.err)
				}
			} else if err != nil || got.ScreeningID != tt.want {
				t.Errorf("Get(%+v, %s) = %s, %v, want %s", tt.a, tt.id, got.ScreeningID, err, tt.want)
			}
			// Events and timelines follow the same rule as Get.
			_, _, terr := svc.Timeline(ctx, tt.a, tt.id)
			_, eerr := svc.RecordEvent(ctx, tt.a, tt.id, Event{Type: EventCancelled})
			for _, e := range []error{terr, eerr} {
				if (tt.err == nil) != (e == nil) || tt.err != nil && !errors.Is(e, tt.err) {
					t.Errorf("Timeline/RecordEvent(%+v, %s) = %v, want %v", tt.a, tt.id, e, tt.err)
				}
			}
		})
	}

	// An order_id of the shape of a screening id would make an API path
	// ambiguous: refused.
	o := exampleOrderValue()
	o.OrderID = byShop.ScreeningID
	if _, err := svc.Submit(ctx, shop, o); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Submit(order_id shaped like a screening id) = %v, want ErrInvalidInput", err)
	}
	// An owner that is neither the checkout nor a key is refused.
	for _, owner := range []Owner{"", "key:", "shop", "key:a\x00b"} {
		if _, err := svc.Submit(ctx, owner, exampleOrderValue()); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Submit(owner %q) = %v, want ErrInvalidInput", owner, err)
		}
	}
}

// TestLegacyOrders: an order stored before owners existed (keyed by its
// order_id, no owner in its record) is reached by officers with
// ?owner=legacy, events included, and by no storefront.
func TestLegacyOrders(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	old := `{"order_id":"INV-OLD","status":"held","decision":"review","score":60,"reasons":[],` +
		`"requirements":{"email_verification":"pending","kyc":"not_required","manual_review":"pending"},"links":{},"created_at":"2026-01-01T00:00:00Z"}`
	if err := f.rdb.HSet(ctx, svc.recordKey("INV-OLD"), "result", old, "private", `{"account_id":"42","ip":"198.51.100.7"}`, "emitted", "1").Err(); err != nil {
		t.Fatal(err)
	}
	legacy := Access{Officer: true, Owner: LegacyOwner}
	if res, err := svc.Get(ctx, legacy, "INV-OLD"); err != nil || res.OrderID != "INV-OLD" {
		t.Errorf("officer Get(legacy INV-OLD) = %+v, %v", res, err)
	}
	if _, err := svc.RecordEvent(ctx, legacy, "INV-OLD", Event{Type: EventChargeback}); err != nil {
		t.Errorf("officer RecordEvent(legacy chargeback) = %v", err)
	}
	if res, err := svc.Review(ctx, legacy, "INV-OLD", ManualReview{Decision: Reject, Reason: "old"}, "olga"); err != nil || res.Status != StatusRejected {
		t.Errorf("officer Review(legacy) = %+v, %v", res, err)
	}
	for _, a := range []Access{{Owner: testOwner}, {Owner: LegacyOwner}, {Owner: CheckoutOwner}} {
		if _, err := svc.Get(ctx, a, "INV-OLD"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%+v, INV-OLD) = %v, want ErrNotFound", a, err)
		}
	}
	if _, err := ParseOwner("owner", "legacy"); err != nil {
		t.Errorf("ParseOwner(legacy) = %v", err)
	}
	if _, err := svc.Submit(ctx, LegacyOwner, exampleOrderValue()); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Submit(legacy owner) = %v, want ErrInvalidInput", err)
	}
}
