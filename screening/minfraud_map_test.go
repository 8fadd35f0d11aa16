package screening

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/screening/minfraud"
)

// addrCmp compares netip.Addr values, whose fields cmp cannot see.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestMinFraudRequest(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	ip := netip.MustParseAddr("198.51.100.7")
	tests := []struct {
		name string
		edit func(o *Order)
		want func(r *minfraud.Request)
	}{
		{name: "product example", edit: func(*Order) {}, want: func(*minfraud.Request) {}},
		{name: "unknown processor becomes other", edit: func(o *Order) { o.Payment.Processor = "acme-pay" },
			want: func(r *minfraud.Request) { r.Payment.Processor = "other" }},
		{name: "processor alias", edit: func(o *Order) { o.Payment.Processor = "Authorize.net" },
			want: func(r *minfraud.Request) { r.Payment.Processor = "authorizenet" }},
		{name: "unknown method left out", edit: func(o *Order) { o.Payment.Method = "cheque" },
			want: func(r *minfraud.Request) { r.Payment.Method = "" }},
		{name: "region that is not a code left out", edit: func(o *Order) { o.Billing.Region = "California" },
			want: func(r *minfraud.Request) { r.Billing.Region = "" }},
		{name: "7-digit BIN cut to 6", edit: func(o *Order) { o.Payment.CardBIN = "4111112" },
			want: func(r *minfraud.Request) { r.CreditCard.IssuerIDNumber = "411111" }},
		{name: "no card, no account, no items", edit: func(o *Order) {
			o.Payment = Payment{}
			o.Account.ID = ""
			o.Items = nil
		}, want: func(r *minfraud.Request) {
			r.Payment, r.CreditCard, r.Account, r.ShoppingCart = nil, nil, nil, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := exampleOrderValue()
			tc.edit(&o)
			got := minFraudRequest(&o, ip, now)
			want := minfraud.Request{
				Device:  &minfraud.Device{IPAddress: ip, UserAgent: "Mozilla/5.0 ...", AcceptLanguage: "en-US"},
				Event:   &minfraud.Event{TransactionID: "INV-1001", Time: now.UTC(), Type: "purchase"},
				Account: &minfraud.Account{UserID: "42"},
				Email:   minfraud.HashedEmail("ann@example.com"),
				Billing: &minfraud.Address{FirstName: "Ann", LastName: "Lee", Address: "1 Main St", City: "San Francisco",
					Region: "CA", Country: "US", Postal: "94107", PhoneNumber: "+14155550100"},
				Payment:      &minfraud.Payment{Method: "card", Processor: "stripe"},
				CreditCard:   &minfraud.CreditCard{IssuerIDNumber: "411111", LastDigits: "1111"},
				Order:        &minfraud.Order{Amount: "12.00", Currency: "USD"},
				ShoppingCart: []minfraud.CartItem{{Category: "vps", ItemID: "vps-1", Quantity: 1, Price: "12.00"}},
			}
			tc.want(&want)
			if diff := cmp.Diff(want, got, addrCmp); diff != "" {
				t.Errorf("minFraudRequest() mismatch (-want +got):\n%s", diff)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("Marshal(request) = %v", err)
			}
		})
	}
}

// TestMinFraudRequestShape compares the JSON of a mapped order with the
// key structure of MaxMind's own full request fixture: every object we send
// is one minFraud knows, with keys it knows.
func TestMinFraudRequestShape(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("minfraud/testdata/python-full-transaction-request.json")
	if err != nil {
		t.Fatalf("minFraud fixture (in the repository): %v", err)
	}
	var ref map[string]any
	if err := json.Unmarshal(fixture, &ref); err != nil {
		t.Fatal(err)
	}
	o := exampleOrderValue()
	b, err := json.Marshal(minFraudRequest(&o, netip.MustParseAddr("198.51.100.7"), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, ours, theirs any)
	walk = func(path string, ours, theirs any) {
		switch o := ours.(type) {
		case map[string]any:
			th, ok := theirs.(map[string]any)
			if !ok {
				t.Errorf("%s: we send an object, the fixture has %T", path, theirs)
				return
			}
			for k, v := range o {
				tv, ok := th[k]
				if !ok {
					t.Errorf("%s.%s: key not in MaxMind's request fixture", path, k)
					continue
				}
				walk(path+"."+k, v, tv)
			}
		case []any:
			th, ok := theirs.([]any)
			if !ok || len(th) == 0 {
				t.Errorf("%s: we send an array, the fixture has %T", path, theirs)
				return
			}
			for i, v := range o {
				walk(fmt.Sprintf("%s.%d", path, i), v, th[0])
			}
		}
	}
	walk("", got, ref)
}
