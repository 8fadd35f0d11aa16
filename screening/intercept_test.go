package screening

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func demoRoute(t testing.TB, path string) InterceptRoute {
	t.Helper()
	for _, r := range DemoInterceptRoutes() {
		if r.Path == path {
			return r
		}
	}
	t.Fatalf("no demo route %s", path)
	return InterceptRoute{}
}

func demoForm() url.Values {
	return url.Values{
		"order_id": {"demo-17"}, "email": {"ann@example.com"}, "name": {"Ann Lee"}, "phone": {"+1 415 555 0100"},
		"country": {"us"}, "region": {"CA"}, "city": {"San Francisco"}, "postal": {"94107"}, "address": {"1 Main St"},
		"plan": {"vps-2"}, "amount": {"24.00"}, "currency": {"USD"}, "card_bin": {"411111"}, "card_last4": {"1111"},
	}
}

func demoOrder() Order {
	return Order{
		OrderID:        "demo-17",
		Account:        Account{Email: "ann@example.com", Name: "Ann Lee", Phone: "+14155550100"},
		IP:             "203.0.113.9",
		UserAgent:      "Mozilla/5.0",
		AcceptLanguage: "en-US",
		Billing:        Billing{Country: "US", Region: "CA", City: "San Francisco", Postal: "94107", Address: "1 Main St"},
		Payment:        Payment{Processor: "other", Method: "card", CardBIN: "411111", CardLast4: "1111"},
		Amount:         "24.00",
		Currency:       "USD",
		Items:          []Item{{SKU: "vps-2", Category: "vps", Price: "24.00", Quantity: 1}},
	}
}

var clientIP = netip.MustParseAddr("::ffff:203.0.113.9")

func TestDemoRoutesValid(t *testing.T) {
	t.Parallel()
	for _, r := range DemoInterceptRoutes() {
		r.SetDefaults()
		if err := r.Validate(); err != nil {
			t.Errorf("demo route %s %s: Validate() = %v", r.Method, r.Path, err)
		}
	}
}

func TestMapOrderDemo(t *testing.T) {
	t.Parallel()
	multipartBody := func(v url.Values) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, vs := range v {
			for _, x := range vs {
				w.WriteField(k, x)
			}
		}
		fw, _ := w.CreateFormFile("avatar", "me.png")
		fw.Write([]byte("\x89PNG not a field"))
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	mpType, mpBody := multipartBody(demoForm())
	noCurrency := demoForm()
	noCurrency.Del("currency")
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		want        func(o *Order)
	}{
		{"form", "/checkout", "application/x-www-form-urlencoded", demoForm().Encode(), func(*Order) {}},
		{"form with charset", "/checkout", "application/x-www-form-urlencoded; charset=UTF-8", demoForm().Encode(), func(*Order) {}},
		{"multipart form", "/checkout", mpType, string(mpBody), func(*Order) {}},
		{"currency from defaults", "/checkout", "application/x-www-form-urlencoded", noCurrency.Encode(), func(*Order) {}},
		{"json", "/api/checkout", "application/json",
			`{"order_id":"demo-17","email":"ann@example.com","name":"Ann Lee","phone":"+1 415 555 0100","country":"US","region":"CA",
			  "city":"San Francisco","postal":"94107","address":"1 Main St","plan":"vps-2","amount":24.00,"currency":"USD",
			  "card_bin":"411111","card_last4":"1111","extra":{"ignored":[1,2]}}`,
			func(*Order) {}},
		// What the storefront reads is what is screened: encoding/json
		// (the demo storefront's) matches keys case-insensitively, PHP
		// files "card.bin" and "card bin" under card_bin.
		{"json key in another case", "/api/checkout", "application/json",
			`{"order_id":"demo-17","email":"ann@example.com","name":"Ann Lee","phone":"+1 415 555 0100","country":"US","region":"CA",
			  "city":"San Francisco","postal":"94107","address":"1 Main St","plan":"vps-2","amount":24.00,"currency":"USD",
			  "Card_BIN":"411111","card_last4":"1111"}`,
			func(*Order) {}},
		{"form key PHP reads as the field", "/checkout", "application/x-www-form-urlencoded",
			strings.Replace(demoForm().Encode(), "card_bin=", "card.bin=", 1), func(*Order) {}},
		{"json without optional fields", "/api/checkout", "application/json",
			`{"order_id":"demo-17","email":"ann@example.com","country":"US","plan":"vps-2","amount":"24.00"}`,
			func(o *Order) {
				o.Account = Account{Email: "ann@example.com"}
				o.Billing = Billing{Country: "US"}
				o.Payment = Payment{Processor: "other", Method: "card"}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := demoRoute(t, tc.path).MapOrder(tc.contentType, "", nil, []byte(tc.body), clientIP, "Mozilla/5.0", "en-US")
			if err != nil {
				t.Fatalf("MapOrder() = %v", err)
			}
			want := demoOrder()
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MapOrder() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapOrderErrors(t *testing.T) {
	t.Parallel()
	form := func(f func(v url.Values)) string {
		v := demoForm()
		f(v)
		return v.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		wantErr     error
		field       string
	}{
		{"bad country names the form field", "/checkout", formType, form(func(v url.Values) { v.Set("country", "Germany") }), ErrInvalidInput, "country"},
		{"missing email", "/checkout", formType, form(func(v url.Values) { v.Del("email") }), ErrInvalidInput, "email"},
		{"missing order id", "/checkout", formType, form(func(v url.Values) { v.Del("order_id") }), ErrInvalidInput, "order_id"},
		{"bad amount", "/checkout", formType, form(func(v url.Values) { v.Set("amount", "24,00") }), ErrInvalidInput, "amount"},
		{"duplicate field", "/checkout", formType, form(func(v url.Values) { v.Add("country", "DE") }), ErrInvalidInput, "country"},
		{"bad card", "/checkout", formType, form(func(v url.Values) { v.Set("card_bin", "4111 1111 1111 1111") }), ErrInvalidInput, "card_bin"},
		{"bad form encoding", "/checkout", formType, "email=%zz", ErrInvalidInput, ""},
		{"json to a form route", "/checkout", "application/json", `{}`, ErrUnsupportedMediaType, ""},
		{"form to a json route", "/api/checkout", formType, "a=b", ErrUnsupportedMediaType, ""},
		{"text/plain", "/checkout", "text/plain", "a=b", ErrUnsupportedMediaType, ""},
		{"no content type", "/checkout", "", "a=b", ErrUnsupportedMediaType, ""},
		{"multipart without boundary", "/checkout", "multipart/form-data", "x", ErrInvalidInput, ""},
		{"form in another charset", "/checkout", formType + "; charset=utf-16", demoForm().Encode(), ErrUnsupportedMediaType, ""},
		{"tab before the parameters", "/checkout", "multipart/form-data\t; boundary=X", "--X--\r\n", ErrUnsupportedMediaType, ""},
		{"two content types", "/checkout", formType + ", multipart/form-data; boundary=X", demoForm().Encode(), ErrUnsupportedMediaType, ""},
		{"json duplicate key", "/api/checkout", "application/json", `{"country":"US","country":"DE"}`, ErrInvalidInput, ""},
		{"json nested duplicate key", "/api/checkout", "application/json", `{"a":{"b":1,"b":2}}`, ErrInvalidInput, ""},
		{"json keys differing in case", "/api/checkout", "application/json",
			`{"order_id":"x","email":"ann@example.com","EMAIL":"evil@mailinator.com","country":"US","plan":"p","amount":"1"}`, ErrInvalidInput, ""},
		{"json keys equal under Unicode folding", "/api/checkout", "application/json",
			`{"order_id":"x","email":"ann@example.com","country":"US","plan":"p","amount":"1","card_last4":"1111","card_la\u017ft4":"2222"}`, ErrInvalidInput, ""},
		{"form field and the key PHP files under it", "/checkout", formType, form(func(v url.Values) { v.Set("card.bin", "999999") }), ErrInvalidInput, "card_bin"},
		{"form field with a leading space", "/checkout", formType, form(func(v url.Values) { v.Set(" email", "evil@mailinator.com") }), ErrInvalidInput, "email"},
		{"form field as a PHP array", "/checkout", formType, form(func(v url.Values) { v.Set("email[]", "evil@mailinator.com") }), ErrInvalidInput, "email"},
		{"json object where a value is wanted", "/api/checkout", "application/json",
			`{"order_id":"x","email":{"a":1},"country":"US","plan":"p","amount":"1"}`, ErrInvalidInput, "email"},
		{"json trailing data", "/api/checkout", "application/json", `{"order_id":"x"} {}`, ErrInvalidInput, ""},
		{"json too deep", "/api/checkout", "application/json", strings.Repeat("[", 100) + strings.Repeat("]", 100), ErrInvalidInput, ""},
		{"json syntax", "/api/checkout", "application/json", `{"order_id":`, ErrInvalidInput, ""},
		{"too large", "/checkout", formType, "order_id=" + strings.Repeat("a", MaxOrderBytes), ErrTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := demoRoute(t, tc.path).MapOrder(tc.contentType, "", nil, []byte(tc.body), clientIP, "UA", "en")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("MapOrder() = %v, want %v", err, tc.wantErr)
			}
			if tc.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Errorf("MapOrder() = %v, want a FieldError for %q", err, tc.field)
				}
			}
		})
	}
}

func TestMapOrderGatewayFields(t *testing.T) {
	t.Parallel()
	r := demoRoute(t, "/checkout")
	long := strings.Repeat("é", maxUserAgent+10)
	o, err := r.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(demoForm().Encode()+"&ip=10.0.0.1"),
		netip.MustParseAddr("2001:db8::7"), long, strings.Repeat("x", 300))
	if err != nil {
		t.Fatalf("MapOrder() = %v", err)
	}
	if o.IP != "2001:db8::7" {
		t.Errorf("IP = %q, want the gateway's client IP, never the body's", o.IP)
	}
	if n := len([]rune(o.UserAgent)); n != maxUserAgent {
		t.Errorf("user agent has %d runes, want it cut to %d", n, maxUserAgent)
	}
	if n := len(o.AcceptLanguage); n != maxString {
		t.Errorf("accept language has %d bytes, want it cut to %d", n, maxString)
	}
	if _, err := r.MapOrder("application/x-www-form-urlencoded", "", nil, []byte(demoForm().Encode()), netip.Addr{}, "", ""); err == nil {
		t.Error("MapOrder(no client IP) = nil error")
	}
}

func TestMapOrderCustomJSONRoute(t *testing.T) {
	t.Parallel()
	r := InterceptRoute{
		Method: "post", Path: "/shop/order",
		Fields: map[string]string{
			"order_id": "cart.id", "account.id": "customer.id", "account.email": "customer.contact.email",
			"billing.country": "customer.address.country", "amount": "cart.total", "currency": "cart.currency",
			"items.0.sku": "cart.lines.0.sku", "items.0.quantity": "cart.lines.0.qty",
			"items.1.sku": "cart.lines.1.sku", "items.1.quantity": "cart.lines.1.qty",
		},
	}
	r.SetDefaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	body := `{"cart":{"id":"C-9","total":30,"currency":"eur","lines":[{"sku":"vps-1","qty":2},{"sku":"ip-4","qty":1}]},
	          "customer":{"id":7,"contact":{"email":"bo@example.org"},"address":{"country":"ch"}}}`
	got, err := r.MapOrder("application/vnd.shop+json", "", nil, []byte(body), clientIP, "", "")
	if err != nil {
		t.Fatalf("MapOrder() = %v", err)
	}
	want := Order{
		OrderID: "C-9", Account: Account{ID: "7", Email: "bo@example.org"}, IP: "203.0.113.9",
		Billing: Billing{Country: "CH"}, Amount: "30.00", Currency: "EUR",
		Items: []Item{{SKU: "vps-1", Quantity: 2}, {SKU: "ip-4", Quantity: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MapOrder() mismatch (-want +got):\n%s", diff)
	}
	// A quantity that is not a number names the body field.
	_, err = r.MapOrder("application/json", "", nil, []byte(strings.Replace(body, `"qty":2`, `"qty":"two"`, 1)), clientIP, "", "")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "cart.lines.0.qty" {
		t.Errorf("MapOrder(bad qty) = %v, want a FieldError for cart.lines.0.qty", err)
	}
}

func TestInterceptRouteValidate(t *testing.T) {
	t.Parallel()
	base := func() InterceptRoute {
		r := demoRoute(t, "/checkout")
		r.SetDefaults()
		return r
	}
	tests := []struct {
		name string
		edit func(r *InterceptRoute)
		key  string
	}{
		{"GET", func(r *InterceptRoute) { r.Method = "GET" }, "method"},
		{"relative path", func(r *InterceptRoute) { r.Path = "checkout" }, "path"},
		{"unclean path", func(r *InterceptRoute) { r.Path = "/a/../checkout" }, "path"},
		{"bad format", func(r *InterceptRoute) { r.Format = "xml" }, "format"},
		{"no order id", func(r *InterceptRoute) { delete(r.Fields, "order_id") }, "fields.order_id"},
		{"ip from the body", func(r *InterceptRoute) { r.Fields["ip"] = "ip" }, "fields.ip"},
		{"user agent from the body", func(r *InterceptRoute) { r.Fields["user_agent"] = "ua" }, "fields.user_agent"},
		{"unknown order field", func(r *InterceptRoute) { r.Fields["billing.zip"] = "zip" }, "fields.billing.zip"},
		{"item index out of range", func(r *InterceptRoute) { r.Fields["items.100.sku"] = "x" }, "fields.items.100.sku"},
		{"item index with zero", func(r *InterceptRoute) { r.Fields["items.01.sku"] = "x" }, "fields.items.01.sku"},
		{"item gap", func(r *InterceptRoute) { r.Fields["items.2.sku"] = "x" }, "fields"},
		{"empty body field", func(r *InterceptRoute) { r.Fields["account.name"] = "" }, "fields.account.name"},
		{"bad dotted path", func(r *InterceptRoute) { r.Fields["account.name"] = "a..b" }, "fields.account.name"},
		{"constant order id", func(r *InterceptRoute) { r.Defaults["order_id"] = "x" }, "defaults.order_id"},
		{"bad default quantity", func(r *InterceptRoute) { r.Defaults["items.0.quantity"] = "one" }, "defaults.items.0.quantity"},
		{"no email anywhere", func(r *InterceptRoute) { delete(r.Fields, "account.email") }, "fields.account.email"},
		{"no currency anywhere", func(r *InterceptRoute) { delete(r.Fields, "currency"); delete(r.Defaults, "currency") }, "fields.currency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tc.edit(&r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key+":") {
				t.Errorf("Validate() = %v, want an error for key %s", err, tc.key)
			}
		})
	}
}

// FuzzMapOrder: no body panics the mapper; an accepted order is normalized
// and carries the gateway's IP.
func FuzzMapOrder(f *testing.F) {
	f.Add("/checkout", "application/x-www-form-urlencoded", []byte(demoForm().Encode()))
	f.Add("/api/checkout", "application/json", []byte(`{"order_id":"a","email":"a@example.com","country":"US","plan":"p","amount":"1"}`))
	f.Add("/api/checkout", "application/json", []byte(`{"order_id":"a","email":"a@example.com","country":"US","plan":"p","amount":1e2}`))
	f.Add("/checkout", "multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--X--\r\n"))
	f.Add("/checkout", "application/x-www-form-urlencoded", []byte("order_id=a&order_id=b&%zz"))
	f.Add("/api/checkout", "application/json", []byte(`[[[{"a":{"a":1}}]]]`))
	f.Add("/api/checkout", "text/plain", []byte("\x00\xff"))
	routes := DemoInterceptRoutes()
	f.Fuzz(func(t *testing.T, path, contentType string, body []byte) {
		r := routes[0]
		if path == routes[1].Path {
			r = routes[1]
		}
		o, err := r.MapOrder(contentType, "", nil, body, clientIP, "UA", "en")
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrUnsupportedMediaType) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("MapOrder() = %v, want one of the sentinel errors", err)
			}
			return
		}
		if o.IP != "203.0.113.9" {
			t.Fatalf("IP = %q, want the client IP", o.IP)
		}
		again := o
		again.Items = append([]Item(nil), o.Items...)
		if err := again.Normalize(); err != nil {
			t.Fatalf("Normalize(mapped order) = %v", err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("mapped order not normalized (-mapped +again):\n%s", diff)
		}
	})
}
