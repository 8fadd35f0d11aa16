package screening

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func whmcsRoute(t *testing.T) InterceptRoute {
	t.Helper()
	r := InterceptRoute{Profile: "whmcs"}
	r.SetDefaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("the whmcs profile does not validate: %v", err)
	}
	return r
}

func TestTransforms(t *testing.T) {
	t.Parallel()
	r := whmcsRoute(t)
	ip := netip.MustParseAddr("198.51.100.7")
	body := "firstname=Ann&lastname=Lee&email=ann%40example.com&country=US&state=CA&city=SF&postcode=94107&address1=1+Main+St" +
		"&phonenumber=4155550100&paymentmethod=stripe&ccnumber=4111+1111-1111+1111&cccvv=123"
	o, err := r.MapOrder("application/x-www-form-urlencoded", "a=checkout", nil, []byte(body), ip, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if o.Payment.CardBIN != "411111" || o.Payment.CardLast4 != "1111" {
		t.Errorf("card = %q, %q; want 411111, 1111", o.Payment.CardBIN, o.Payment.CardLast4)
	}
	if o.Account.Name != "Ann Lee" || o.Billing.FirstName != "Ann" || o.Billing.LastName != "Lee" {
		t.Errorf("names = %q, %q, %q", o.Account.Name, o.Billing.FirstName, o.Billing.LastName)
	}
	if !strings.HasPrefix(o.OrderID, GeneratedOrderIDPrefix) || len(o.OrderID) != len(GeneratedOrderIDPrefix)+26 {
		t.Errorf("generated order id %q", o.OrderID)
	}
	o2, err := r.MapOrder("application/x-www-form-urlencoded", "a=checkout", nil, []byte(body), ip, "", "")
	if err != nil || o2.OrderID == o.OrderID {
		t.Errorf("a second checkout got order id %q (%v), the first %q: want a new one", o2.OrderID, err, o.OrderID)
	}

	r8 := r
	r8.Transforms.CardBINDigits = 8
	if o, err := r8.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(body), ip, "", ""); err != nil || o.Payment.CardBIN != "41111111" {
		t.Errorf("8-digit BIN = %q, %v", o.Payment.CardBIN, err)
	}

	for _, bad := range []string{"4111111111111111x", "4111", "41111111111111111111", "4111.1111.1111.1111"} {
		b := strings.Replace(body, "ccnumber=4111+1111-1111+1111", "ccnumber="+bad, 1)
		_, err := r.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(b), ip, "", "")
		if err == nil {
			t.Errorf("card number %q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "4111") {
			t.Errorf("the error names the card number: %v", err)
		}
	}
	// A non-card payment sends no number: no card on the order.
	b := strings.Replace(body, "&ccnumber=4111+1111-1111+1111", "&ccnumber=", 1)
	if o, err := r.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(b), ip, "", ""); err != nil || o.Payment.CardBIN != "" {
		t.Errorf("empty card number: %+v, %v", o.Payment, err)
	}
	// The card number field in the query is a second reading.
	if _, err := r.MapOrder("application/x-www-form-urlencoded", "a=checkout&cc.number=1", nil, []byte(body), ip, "", ""); err != nil {
		t.Errorf("cc.number is another field than ccnumber: %v", err)
	}
	if _, err := r.MapOrder("application/x-www-form-urlencoded", "a=checkout&ccnumber=5555555555554444", nil, []byte(body), ip, "", ""); err == nil {
		t.Error("ccnumber in the query was not refused")
	}
}

func TestJSONPathAndQueryMerge(t *testing.T) {
	t.Parallel()
	r := InterceptRoute{Profile: "woocommerce-blocks"}
	r.SetDefaults()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.7")
	body := `{"billing_address":{"first_name":"Renée","last_name":"Dupont","email":"Renée.Dupont@example.ca","country":"CA","state":"QC","city":"Montréal","postcode":"H2X 1Y4","address_1":"1 rue X","phone":"+15145550100"},"payment_method":"stripe"}`
	o, err := r.MapOrder("application/json", "", nil, []byte(body), ip, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if o.Billing.Country != "CA" || o.Billing.FirstName != "Renée" || o.Account.Email != "renée.dupont@example.ca" || o.Account.Name != "Renée Dupont" {
		t.Errorf("order = %+v", o)
	}
	// WordPress reads a parameter missing from the JSON from the query.
	for _, q := range []string{"billing_address[country]=DE", "billing_address=x", "billing.address[country]=DE"} {
		if _, err := r.MapOrder("application/json", q, nil, []byte(body), ip, "", ""); err == nil {
			t.Errorf("query %q of a JSON checkout accepted", q)
		}
	}
	if _, err := r.MapOrder("application/json", "_locale=user", nil, []byte(body), ip, "", ""); err != nil {
		t.Errorf("an unrelated query parameter refused: %v", err)
	}
}

func TestProfilesValidate(t *testing.T) {
	t.Parallel()
	for _, name := range ProfileNames() {
		r := InterceptRoute{Profile: name}
		r.SetDefaults()
		if err := r.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
		if len(DescribeRoutes([]InterceptRoute{r})) == 0 {
			t.Errorf("profile %s describes no route", name)
		}
	}
	bad := InterceptRoute{Profile: "fossbilling"}
	bad.SetDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "profile") {
		t.Errorf("unknown profile: %v", err)
	}
	// Overrides: fields key by key, matchers replaced by the entry's own.
	o := InterceptRoute{Profile: "whmcs", Path: "/billing/cart.php", MatchQuery: map[string]string{"a": "checkout"}, MatchBody: true,
		Fields: map[string]string{"billing.country": "billingcountry"}, Defaults: map[string]string{"currency": "EUR"}}
	o.SetDefaults()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if ms := o.Matchers(); len(ms) != 1 || ms[0].Paths[0] != "/billing/cart.php" {
		t.Errorf("matchers = %+v", ms)
	}
	if o.Fields["billing.country"] != "billingcountry" || o.Fields["account.email"] != "email" || o.Defaults["currency"] != "EUR" {
		t.Errorf("fields %v defaults %v", o.Fields, o.Defaults)
	}
}

func TestMinFraudNames(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, first, last string }{
		{"Ann Lee", "Ann", "Lee"},
		{"Ann Marie Lee", "Ann Marie", "Lee"},
		{"Cher", "", "Cher"},
		{"", "", ""},
	}
	for _, tt := range tests {
		o := Order{Account: Account{Name: tt.name}, Amount: "1", Currency: "USD"}
		req := minFraudRequest(&o, netip.MustParseAddr("198.51.100.7"), time.Unix(0, 0))
		var first, last string
		if req.Billing != nil {
			first, last = req.Billing.FirstName, req.Billing.LastName
		}
		if first != tt.first || last != tt.last {
			t.Errorf("account.name %q: billing %q %q, want %q %q", tt.name, first, last, tt.first, tt.last)
		}
	}
	o := Order{Account: Account{Name: "A B"}, Billing: Billing{FirstName: "Ann", LastName: "Lee"}, Amount: "1", Currency: "USD"}
	if req := minFraudRequest(&o, netip.MustParseAddr("198.51.100.7"), time.Unix(0, 0)); req.Billing.FirstName != "Ann" || req.Billing.LastName != "Lee" {
		t.Errorf("billing names = %+v, want the form's own", req.Billing)
	}
}

// FuzzCardNumberTransform: whatever a checkout's card number field holds,
// the order carries at most its BIN and last four, and an error never
// quotes it.
func FuzzCardNumberTransform(f *testing.F) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "41111111111111111111", "x", "", "5555555555554444%00", "4111111111111111&ccnumber=5555555555554444"} {
		f.Add(s)
	}
	r := InterceptRoute{Profile: "whmcs"}
	r.SetDefaults()
	ip := netip.MustParseAddr("198.51.100.7")
	base := "firstname=Ann&lastname=Lee&email=ann%40example.com&country=US&ccnumber="
	f.Fuzz(func(t *testing.T, card string) {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, card)
		o, err := r.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(base+url.QueryEscape(card)), ip, "", "")
		if err != nil {
			if len(digits) >= 12 && strings.Contains(err.Error(), digits) {
				t.Fatalf("error quotes the card number: %v", err)
			}
			return
		}
		b, _ := json.Marshal(o)
		if len(digits) >= 12 && strings.Contains(string(b), digits) {
			t.Fatalf("order %s carries the card number %s", b, digits)
		}
		if o.Payment.CardBIN != "" && (!strings.HasPrefix(digits, o.Payment.CardBIN) || !strings.HasSuffix(digits, o.Payment.CardLast4)) {
			t.Fatalf("card %q gave BIN %q last4 %q", card, o.Payment.CardBIN, o.Payment.CardLast4)
		}
	})
}
