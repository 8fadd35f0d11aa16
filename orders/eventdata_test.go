package orders

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestEventDataIsWebhookSafe: the events an order publishes carry the
// webhook projection: ids, the storefront, status, decision, score,
// requirements, reason codes and version; never the customer's links
// (tokens), email, IP, card or the reasons' text.
func TestEventDataIsWebhookSafe(t *testing.T) {
	backends(t, func(t *testing.T, clients func() redis.UniversalClient, prefix string) {
		st := newStack(t, clients(), prefix, emailOnly, "p1")
		ctx := context.Background()
		res, err := st.svc.Submit(ctx, shop, testOrder("INV-7", "42", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Links["verify_email"] == "" {
			t.Fatalf("no verify_email link in the answer: %+v", res)
		}
		if err := st.svc.EmailVerified(ctx, string(shop), "42", "ann@example.com", "customer"); err != nil {
			t.Fatal(err)
		}
		st.drain(t)
		var seen []string
		for _, e := range st.published(t) {
			if e.Type != "order.held" && e.Type != "order.cleared" {
				continue
			}
			raw := string(e.Data)
			for _, secret := range []string{"ann@example.com", "198.51.100.7", res.Links["verify_email"], "links", "http"} {
				if strings.Contains(raw, secret) {
					t.Errorf("%s data %s contains %q", e.Type, raw, secret)
				}
			}
			var d EventData
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("%s data %s: %v", e.Type, raw, err)
			}
			if d.ScreeningID != res.ScreeningID || d.OrderID != "INV-7" || d.Storefront != "shop" || d.AccountID != "42" || d.Version < 1 || d.ReasonCodes == nil {
				t.Errorf("%s data %+v", e.Type, d)
			}
			if e.Type == "order.cleared" && (d.Status != StatusCleared || d.Requirements.EmailVerification != Done || d.Version < 2) {
				t.Errorf("order.cleared data %+v", d)
			}
			seen = append(seen, e.Type)
		}
		if strings.Join(seen, ",") != "order.held,order.cleared" {
			t.Errorf("events %v", seen)
		}
	})
}
