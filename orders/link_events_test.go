package orders

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// TestLinkedCheckoutEvents: once a storefront links an intercepted
// checkout to its own order, the link is on the checkout's timeline (once,
// however often it is linked) and the checkout's later events carry the
// shop's order id and the storefront, so that a provisioning receiver
// knows the order by the id its shop gave it.
func TestLinkedCheckoutEvents(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		co, err := st.svc.Submit(ctx, CheckoutOwner, testOrder(screening.GeneratedOrderIDPrefix+"abc", "7", "co@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		st.drain(t) // order.held goes out before the link
		for range 2 {
			if res, err := st.svc.Link(ctx, Access{Owner: shop}, co.ScreeningID, "1001"); err != nil || res.OrderID != "1001" {
				t.Fatalf("Link = %+v, %v", res, err)
			}
		}
		if err := st.svc.EmailVerified(ctx, string(CheckoutOwner), "7", "co@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		st.drain(t)

		got := map[string]EventData{}
		for _, e := range st.published(t) {
			var d EventData
			if err := json.Unmarshal(e.Data, &d); err != nil || d.ScreeningID != co.ScreeningID {
				continue
			}
			got[e.Type] = d
		}
		if d := got["order.held"]; d.ShopOrderID != "" || d.Storefront != "" || d.OrderID != co.OrderID {
			t.Errorf("order.held before the link = %+v", d)
		}
		if d := got["order.cleared"]; d.ShopOrderID != "1001" || d.Storefront != "shop" || d.OrderID != co.OrderID {
			t.Errorf("order.cleared after the link = %+v, want shop_order_id 1001 of storefront shop", d)
		}

		_, lines, _, err := st.svc.Timeline(ctx, Access{Officer: true}, co.ScreeningID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		linked := 0
		for _, l := range lines {
			if l.Type == "linked" {
				linked++
				if l.Actor != string(shop) {
					t.Errorf("linked by %q, want %q", l.Actor, shop)
				}
			}
		}
		if linked != 1 {
			t.Errorf("%d linked lines on the timeline, want 1: %+v", linked, lines)
		}
	})
}

func TestLinkedTransition(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	base := Record{ScreeningID: "scr_x", Version: 3, Status: StatusHeld}
	linked := base
	linked.ShopLink = &ShopLink{Storefront: "shop", OrderID: "1001"}
	tests := []struct {
		name    string
		r       Record
		wantErr error
	}{
		{"not linked yet: linked, version bumped", base, nil},
		{"a cleared order is linked too", Record{ScreeningID: "scr_x", Version: 5, Status: StatusCleared}, nil},
		{"linked to the same order: no change", linked, ErrNoChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Linked(tt.r, "shop", "1001", "key:shop", now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Linked = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Next.Version != tt.r.Version+1 || c.Next.ShopLink == nil || *c.Next.ShopLink != (ShopLink{Storefront: "shop", OrderID: "1001"}) ||
				c.Next.Status != tt.r.Status || len(c.Events) != 0 || c.Entry.Type != "linked" {
				t.Errorf("Linked = %+v", c)
			}
		})
	}
	other := linked
	other.ShopLink = &ShopLink{Storefront: "shop", OrderID: "999"}
	if _, err := Linked(other, "shop", "1001", "key:shop", now); !errors.Is(err, screening.ErrConflict) {
		t.Errorf("linking a linked checkout to another order: %v, want a conflict", err)
	}
}
