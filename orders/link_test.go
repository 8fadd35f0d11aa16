package orders

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// TestLink: a storefront links an intercepted checkout (stored under a
// gateway-made order id) to its own order id; afterwards its key finds the
// checkout by either id, on standalone Redis and the Cluster, from two
// processes. Linking is idempotent; another id for the checkout, the id
// for another checkout, or the id of one of the key's own API orders is a
// conflict; another key's namespace knows nothing of the link.
func TestLink(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		a := newStack(t, clients(), prefix, emailOnly, "p1")
		b := newStack(t, clients(), prefix, emailOnly, "p2")
		ctx := context.Background()
		co, err := a.svc.Submit(ctx, CheckoutOwner, testOrder(screening.GeneratedOrderIDPrefix+"abc", "7", "co@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := a.svc.Submit(ctx, CheckoutOwner, testOrder(screening.GeneratedOrderIDPrefix+"def", "8", "co2@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.svc.Submit(ctx, shop, testOrder("API-1", "9", "api@example.com")); err != nil {
			t.Fatal(err)
		}
		acc := Access{Owner: shop}

		// Two processes link at once: both succeed, one link.
		var wg sync.WaitGroup
		for _, st := range []*stack{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res, err := st.svc.Link(ctx, acc, co.ScreeningID, "1001"); err != nil || res.ScreeningID != co.ScreeningID || res.OrderID != "1001" {
					t.Errorf("Link = %+v, %v", res, err)
				}
			}()
		}
		wg.Wait()
		// By the shop's id the answer is about the shop's order; by the
		// screening id it is the checkout as intercepted.
		for id, orderID := range map[string]string{"1001": "1001", co.ScreeningID: co.OrderID} {
			res, err := b.svc.Get(ctx, acc, id)
			if err != nil || res.ScreeningID != co.ScreeningID || res.OrderID != orderID {
				t.Errorf("Get(%s) = %+v, %v; want the checkout with order_id %s", id, res, err, orderID)
			}
		}
		if _, err := a.svc.Link(ctx, acc, co.ScreeningID, "1001"); err != nil {
			t.Errorf("linking again: %v", err)
		}
		for _, c := range []struct {
			name, sid, id string
		}{
			{"another id for the checkout", co.ScreeningID, "1002"},
			{"the id for another checkout", other.ScreeningID, "1001"},
			{"the id of an API order of the key", other.ScreeningID, "API-1"},
		} {
			if _, err := a.svc.Link(ctx, acc, c.sid, c.id); !errors.Is(err, screening.ErrConflict) {
				t.Errorf("%s: %v, want a conflict", c.name, err)
			}
		}
		// The refused link of the other checkout left nothing behind.
		if _, err := a.svc.Link(ctx, acc, other.ScreeningID, "1003"); err != nil {
			t.Errorf("linking the other checkout to a free id: %v", err)
		}
		if _, err := a.svc.Get(ctx, Access{Owner: APIKeyOwner("other-shop")}, "1001"); !errors.Is(err, screening.ErrNotFound) {
			t.Errorf("another key reads the link: %v", err)
		}
		var fe *screening.FieldError
		if _, err := a.svc.Link(ctx, acc, "INV-1", "1004"); !errors.As(err, &fe) {
			t.Errorf("an order id instead of a screening id: %v", err)
		}
		api, _ := a.svc.Get(ctx, acc, "API-1")
		if _, err := a.svc.Link(ctx, acc, api.ScreeningID, "1005"); !errors.As(err, &fe) {
			t.Errorf("linking an API order: %v", err)
		}
		if _, err := a.svc.Link(ctx, Access{Officer: true}, co.ScreeningID, "1006"); !errors.As(err, &fe) {
			t.Errorf("an officer linking: %v", err)
		}
		if _, err := a.svc.Link(ctx, acc, co.ScreeningID, "scr_0123456789abcdefghijkl"); !errors.As(err, &fe) {
			t.Errorf("a screening-id-shaped order id: %v", err)
		}
	})
}
