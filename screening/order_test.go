package screening

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/screening/ident"
)

// exampleOrder is the body shown in PRODUCT.md §4 "Orders".
const exampleOrder = `{"order_id": "INV-1001",
 "account": {"id": "42", "email": "ann@example.com", "name": "Ann Lee", "phone": "+1 415 555 0100"},
 "ip": "198.51.100.7", "user_agent": "Mozilla/5.0 ...", "accept_language": "en-US",
 "billing": {"first_name": "Ann", "last_name": "Lee", "country": "US", "region": "CA",
             "city": "San Francisco", "postal": "94107", "address": "1 Main St"},
 "payment": {"processor": "stripe", "method": "card", "card_bin": "411111", "card_last4": "1111"},
 "amount": "12.00", "currency": "USD",
 "items": [{"sku": "vps-1", "category": "vps", "price": "12.00", "quantity": 1}]}`

func exampleOrderValue() Order {
	return Order{
		OrderID: "INV-1001",
		// Normalized: exampleOrder's phone without its spaces.
		Account:        Account{ID: "42", Email: "ann@example.com", Name: "Ann Lee", Phone: "+14155550100"},
		IP:             "198.51.100.7",
		UserAgent:      "Mozilla/5.0 ...",
		AcceptLanguage: "en-US",
		Billing: Billing{FirstName: "Ann", LastName: "Lee", Country: "US", Region: "CA",
			City: "San Francisco", Postal: "94107", Address: "1 Main St"},
		Payment:  Payment{Processor: "stripe", Method: "card", CardBIN: "411111", CardLast4: "1111"},
		Amount:   "12.00",
		Currency: "USD",
		Items:    []Item{{SKU: "vps-1", Category: "vps", Price: "12.00", Quantity: 1}},
	}
}

// withField returns the example body with the value at a dotted path
// replaced (or, with del, removed). Array indexes are numbers.
func withField(t testing.TB, path string, value any, del bool) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(exampleOrder), &m); err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(path, ".")
	var cur any = m
	for _, s := range segs[:len(segs)-1] {
		switch c := cur.(type) {
		case map[string]any:
			if c[s] == nil {
				c[s] = map[string]any{}
			}
			cur = c[s]
		case []any:
			i, _ := strconv.Atoi(s)
			cur = c[i]
		}
	}
	last := segs[len(segs)-1]
	switch c := cur.(type) {
	case map[string]any:
		if del {
			delete(c, last)
		} else {
			c[last] = value
		}
	case []any:
		i, _ := strconv.Atoi(last)
		c[i] = value
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeOrderValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want func(o *Order)
	}{
		{name: "product example", body: exampleOrder, want: func(*Order) {}},
		{name: "lower-case codes are normalized", body: withField(t, "billing.country", "us", false),
			want: func(*Order) {}},
		{name: "currency lower-case", body: withField(t, "currency", "usd", false), want: func(*Order) {}},
		{name: "IPv4-mapped IPv6 becomes IPv4", body: withField(t, "ip", "::ffff:198.51.100.7", false),
			want: func(*Order) {}},
		{name: "IPv6 canonical form", body: withField(t, "ip", "2001:DB8:0:0::1", false),
			want: func(o *Order) { o.IP = "2001:db8::1" }},
		{name: "amount as JSON number", body: strings.Replace(exampleOrder, `"amount": "12.00"`, `"amount": 12.00`, 1),
			want: func(*Order) {}},
		{name: "amount without decimals", body: withField(t, "amount", "12", false),
			want: func(o *Order) { o.Amount = "12.00" }},
		{name: "JPY has no minor units", body: withField(t, "currency", "JPY", false),
			want: func(o *Order) { o.Currency = "JPY"; o.Amount = "12"; o.Items[0].Price = "12" }},
		{name: "KWD takes 3 decimals", body: strings.Replace(withField(t, "currency", "KWD", false), `"12.00"`, `"12.125"`, 2),
			want: func(o *Order) { o.Currency = "KWD"; o.Amount = "12.125"; o.Items[0].Price = "12.125" }},
		{name: "8-digit BIN", body: withField(t, "payment.card_bin", "41111111", false),
			want: func(o *Order) { o.Payment.CardBIN = "41111111" }},
		{name: "optional fields absent", body: `{"order_id":"a","account":{"email":"a@example.com"},"ip":"192.0.2.1","billing":{"country":"DE"},"amount":"0","currency":"EUR"}`,
			want: func(o *Order) {
				*o = Order{OrderID: "a", Account: Account{Email: "a@example.com"}, IP: "192.0.2.1",
					Billing: Billing{Country: "DE"}, Amount: "0.00", Currency: "EUR"}
			}},
		{name: "null values are absent", body: withField(t, "account.name", nil, false),
			want: func(o *Order) { o.Account.Name = "" }},
		{name: "unicode name", body: withField(t, "account.name", "Zoë Ünal 李", false),
			want: func(o *Order) { o.Account.Name = "Zoë Ünal 李" }},
		{name: "trailing whitespace", body: exampleOrder + "\n\t ", want: func(*Order) {}},
		{name: "XK", body: withField(t, "billing.country", "XK", false), want: func(o *Order) { o.Billing.Country = "XK" }},
		// Leading zeros are dropped: minFraud's JSON number cannot carry
		// them, and "012.00" is the same amount as "12.00".
		{name: "amount with leading zeros", body: strings.Replace(exampleOrder, `"12.00"`, `"0012.00"`, 2),
			want: func(*Order) {}},
		{name: "amount zero with leading zeros", body: withField(t, "amount", "000.50", false),
			want: func(o *Order) { o.Amount = "0.50" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeOrder(strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("DecodeOrder() = %v", err)
			}
			want := exampleOrderValue()
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DecodeOrder() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeOrderFieldErrors(t *testing.T) {
	t.Parallel()
	many := make([]any, MaxItems+1)
	for i := range many {
		many[i] = map[string]any{"sku": "x", "quantity": 1}
	}
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"unknown top-level field", withField(t, "coupon", "X", false), "coupon"},
		{"paid_at not RFC 3339", withField(t, "paid_at", "2026-03-01 12:00", false), "paid_at"},
		{"paid_at a number", withField(t, "paid_at", 1772366400, false), "paid_at"},
		{"unknown nested field", withField(t, "billing.zip", "1", false), "billing.zip"},
		{"unknown field in an item", withField(t, "items.0.color", "red", false), "items.0.color"},
		{"wrong type in an item", withField(t, "items.0.quantity", "1", false), "items.0.quantity"},
		{"fractional quantity", withField(t, "items.0.quantity", 1.5, false), "items.0.quantity"},
		{"object for string", withField(t, "account.email", map[string]any{}, false), "account.email"},
		{"amount as bool", withField(t, "amount", true, false), "amount"},
		{"billing not an object", withField(t, "billing", "US", false), "billing"},
		{"items not an array", withField(t, "items", map[string]any{}, false), "items"},
		{"order_id missing", withField(t, "order_id", nil, true), "order_id"},
		{"order_id with slash", withField(t, "order_id", "INV/1", false), "order_id"},
		{"order_id with space", withField(t, "order_id", "INV 1", false), "order_id"},
		{"order_id too long", withField(t, "order_id", strings.Repeat("a", 65), false), "order_id"},
		{"email missing", withField(t, "account.email", nil, true), "account.email"},
		{"email with display name", withField(t, "account.email", "Ann <ann@example.com>", false), "account.email"},
		{"email without domain dot", withField(t, "account.email", "ann@example", false), "account.email"},
		{"email without at", withField(t, "account.email", "ann.example.com", false), "account.email"},
		{"email domain literal", withField(t, "account.email", "ann@[192.0.2.1]", false), "account.email"},
		{"email bad label", withField(t, "account.email", "ann@-example.com", false), "account.email"},
		{"email numeric tld", withField(t, "account.email", "ann@1.2.3.4", false), "account.email"},
		{"email too long", withField(t, "account.email", strings.Repeat("a", 250)+"@example.com", false), "account.email"},
		// Local parts that net/mail accepts but that ident.NormalizeEmail
		// cannot key: accepting them would skip the email and email-domain
		// blocklists and the email velocity counters.
		{"email zero-width space", withField(t, "account.email", "ann\u200b@example.com", false), "account.email"},
		{"email full-width letter", withField(t, "account.email", "ａnn@example.com", false), "account.email"},
		{"ip missing", withField(t, "ip", nil, true), "ip"},
		{"ip garbage", withField(t, "ip", "198.51.100", false), "ip"},
		{"ip with zone", withField(t, "ip", "fe80::1%eth0", false), "ip"},
		{"ip with port", withField(t, "ip", "198.51.100.7:80", false), "ip"},
		{"country missing", withField(t, "billing.country", nil, true), "billing.country"},
		{"country unknown", withField(t, "billing.country", "XX", false), "billing.country"},
		{"country UK is not ISO", withField(t, "billing.country", "UK", false), "billing.country"},
		{"country alpha-3", withField(t, "billing.country", "USA", false), "billing.country"},
		{"amount missing", withField(t, "amount", nil, true), "amount"},
		{"amount negative", withField(t, "amount", "-1.00", false), "amount"},
		{"amount exponent", withField(t, "amount", "1e3", false), "amount"},
		{"amount too many decimals", withField(t, "amount", "12.001", false), "amount"},
		{"amount trailing point", withField(t, "amount", "12.", false), "amount"},
		{"amount leading point", withField(t, "amount", ".5", false), "amount"},
		{"amount huge", withField(t, "amount", "1234567890123.00", false), "amount"},
		{"amount with comma", withField(t, "amount", "12,00", false), "amount"},
		{"currency missing", withField(t, "currency", nil, true), "currency"},
		{"currency unknown", withField(t, "currency", "ABC", false), "currency"},
		{"currency metal", withField(t, "currency", "XAU", false), "currency"},
		{"card_bin short", withField(t, "payment.card_bin", "4111", false), "payment.card_bin"},
		{"card_bin 9 digits", withField(t, "payment.card_bin", "411111111", false), "payment.card_bin"},
		{"card_bin letters", withField(t, "payment.card_bin", "41111a", false), "payment.card_bin"},
		{"card_last4 short", withField(t, "payment.card_last4", "111", false), "payment.card_last4"},
		{"processor with spaces", withField(t, "payment.processor", "my bank", false), "payment.processor"},
		{"quantity zero", withField(t, "items.0.quantity", 0, false), "items.0.quantity"},
		{"quantity missing", withField(t, "items.0.quantity", nil, true), "items.0.quantity"},
		{"sku missing", withField(t, "items.0.sku", nil, true), "items.0.sku"},
		{"price bad", withField(t, "items.0.price", "twelve", false), "items.0.price"},
		{"too many items", withField(t, "items", many, false), "items"},
		{"string too long", withField(t, "billing.city", strings.Repeat("x", 257), false), "billing.city"},
		{"control character", withField(t, "account.name", "Ann\nLee", false), "account.name"},
		{"escape character", withField(t, "billing.address", "1 Main St\u001b[31m", false), "billing.address"},
		{"user agent too long", withField(t, "user_agent", strings.Repeat("x", 1025), false), "user_agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeOrder(strings.NewReader(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeOrder() = %v, want a *FieldError for %s", err, tc.field)
			}
			if fe.Field != tc.field {
				t.Errorf("DecodeOrder() field = %q (%v), want %q", fe.Field, err, tc.field)
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("DecodeOrder() = %v, does not wrap ErrInvalidInput", err)
			}
		})
	}
}

func TestDecodeOrderBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrInvalidInput},
		{"whitespace", " \n", ErrInvalidInput},
		{"array", "[]", ErrInvalidInput},
		{"null", "null", ErrInvalidInput},
		{"string", `"x"`, ErrInvalidInput},
		{"syntax error", `{"order_id": }`, ErrInvalidInput},
		{"truncated", exampleOrder[:50], ErrInvalidInput},
		{"second value", exampleOrder + " {}", ErrInvalidInput},
		{"trailing garbage", exampleOrder + "x", ErrInvalidInput},
		{"too large", `{"order_id":"` + strings.Repeat("a", MaxOrderBytes) + `"}`, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeOrder(strings.NewReader(tc.body))
			if !errors.Is(err, tc.want) {
				t.Errorf("DecodeOrder(%.40q) = %v, want %v", tc.body, err, tc.want)
			}
		})
	}
}

// errReader fails like a body cut by http.MaxBytesReader.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeOrderReaderError(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("connection reset")
	_, err := DecodeOrder(errReader{sentinel})
	if !errors.Is(err, sentinel) || errors.Is(err, ErrInvalidInput) {
		t.Errorf("DecodeOrder(failing reader) = %v, want the reader's error, not ErrInvalidInput", err)
	}
}

func TestCodeTables(t *testing.T) {
	t.Parallel()
	for i := 0; i < len(currencyCodes); i += 5 {
		c := currencyCodes[i : i+3]
		if _, ok := currencyMinorUnits(c); !ok {
			t.Errorf("currencyMinorUnits(%q) not found", c)
		}
		if currencyCodes[i+4] != ' ' {
			t.Fatalf("currencyCodes misaligned at %d", i)
		}
		if i > 0 && currencyCodes[i-5:i-2] >= c {
			t.Errorf("currencyCodes not sorted at %q", c)
		}
	}
	for _, tc := range []struct {
		code  string
		minor int
		ok    bool
	}{
		{"USD", 2, true}, {"EUR", 2, true}, {"JPY", 0, true}, {"KWD", 3, true}, {"CLF", 4, true},
		{"usd", 0, false}, {"US", 0, false}, {"SD2", 0, false}, {"D2 ", 0, false}, {"XAU", 0, false},
	} {
		minor, ok := currencyMinorUnits(tc.code)
		if minor != tc.minor || ok != tc.ok {
			t.Errorf("currencyMinorUnits(%q) = %d, %v, want %d, %v", tc.code, minor, ok, tc.minor, tc.ok)
		}
	}
}

// FuzzDecodeOrder: no input panics; an accepted order is normalized (it
// normalizes to itself) and survives a re-encode unchanged.
func FuzzDecodeOrder(f *testing.F) {
	f.Add([]byte(exampleOrder))
	f.Add([]byte(`{"order_id":"a","account":{"email":"a@example.com"},"ip":"::ffff:1.2.3.4","billing":{"country":"de"},"amount":1,"currency":"eur"}`))
	f.Add([]byte(`{"items":[{"quantity":1e400}]}`))
	f.Add([]byte(`{"amount":"1.2.3"}`))
	f.Add([]byte("\x00\xff{"))
	f.Add([]byte(`{"a":{"b":[1,2,{"c":null}]}}`))
	f.Add([]byte(strings.Replace(exampleOrder, "ann@", "jöhn@", 1)))
	f.Add([]byte(strings.Replace(exampleOrder, `"411111"`, `"4111111"`, 1)))
	f.Add([]byte(strings.Replace(exampleOrder, `"12.00"`, `"012.00"`, 1)))
	if seeds, err := filepath.Glob("testdata/orders/*.json"); err == nil {
		for _, p := range seeds {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := DecodeOrder(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeOrder() = %v, want ErrInvalidInput or ErrTooLarge", err)
			}
			return
		}
		// What the gateway accepts, it can key and send: an email the
		// blocklist and velocity counters can hash, a card fingerprint
		// whenever both card fields are given, a minFraud request that
		// encodes.
		ids := identifiers(&o, ident.EmailProvider)
		if ids.email == "" || ids.emailDomain == "" {
			t.Fatalf("accepted email %q has no identifier", o.Account.Email)
		}
		if o.Payment.CardBIN != "" && o.Payment.CardLast4 != "" && ids.card == "" {
			t.Fatalf("accepted card %s/%s has no fingerprint", o.Payment.CardBIN, o.Payment.CardLast4)
		}
		if _, err := json.Marshal(minFraudRequest(&o, netip.MustParseAddr(o.IP), time.Unix(0, 0))); err != nil {
			t.Fatalf("minFraud request of an accepted order: %v", err)
		}
		again := o
		again.Items = append([]Item(nil), o.Items...)
		if err := again.Normalize(); err != nil {
			t.Fatalf("Normalize(decoded order) = %v", err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("Normalize is not idempotent (-first +second):\n%s", diff)
		}
		enc, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("Marshal(decoded order) = %v", err)
		}
		o2, err := DecodeOrder(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("DecodeOrder(re-encoded %s) = %v", enc, err)
		}
		if diff := cmp.Diff(o, o2); diff != "" {
			t.Fatalf("re-encoded order differs (-first +second):\n%s", diff)
		}
	})
}

// The seed orders in testdata/orders are valid orders.
func TestDecodeOrderTestdata(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/orders/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata orders: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeOrder(bytes.NewReader(b)); err != nil {
			t.Errorf("DecodeOrder(%s) = %v", p, err)
		}
	}
}

// benchOrderBody is an order as scripts/loadorders sends it (about 650
// bytes, one item).
const benchOrderBody = `{"order_id":"bench-1","account":{"id":"cust-17","email":"customer17@example.com","name":"Customer 17",` +
	`"phone":"+1 415 555 1017"},"ip":"198.51.100.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",` +
	`"accept_language":"en-US,en;q=0.8","billing":{"first_name":"Customer","last_name":"17","country":"US","region":"",` +
	`"city":"Springfield","postal":"10017","address":"18 Main St"},"payment":{"processor":"stripe","method":"card",` +
	`"card_bin":"411111","card_last4":"1119"},"amount":"10.00","currency":"USD","items":[{"sku":"vps-2","category":"vps",` +
	`"price":"10.00","quantity":1}]}`

// BenchmarkDecodeOrder reads, strictly decodes and normalizes an order
// body, as the API does for every new order.
func BenchmarkDecodeOrder(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOrder(strings.NewReader(benchOrderBody)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPlainJSONString: what plainJSONString takes as it is, json.Unmarshal
// reads to the same string; Decimal.UnmarshalJSON, with or without the
// shortcut, gives json.Unmarshal's string for every JSON string.
func FuzzPlainJSONString(f *testing.F) {
	for _, s := range []string{`"12.00"`, `""`, `"1\u0032.00"`, `"12\"`, `"a\\b"`, "\"\x7f\"", "\"\xc3\xa9\"", `"`, `12`, `"\t"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		werr := json.Unmarshal(b, &want)
		if s, ok := plainJSONString(b); ok {
			if werr != nil || s != want {
				t.Fatalf("plainJSONString(%q) = %q; json.Unmarshal = %q, %v", b, s, want, werr)
			}
		}
		if werr != nil || len(b) == 0 || b[0] != '"' {
			return
		}
		var d Decimal
		if err := d.UnmarshalJSON(b); err != nil || string(d) != want {
			t.Fatalf("Decimal.UnmarshalJSON(%q) = %q, %v; want %q", b, d, err, want)
		}
	})
}

func TestDecimalUnmarshalJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`"12.00"`, "12.00"},
		{`"1\u0032.00"`, "12.00"}, // escaped: json.Unmarshal's reading
		{`"\u00e9"`, "é"},
		{`12.5`, "12.5"},
		{`null`, ""},
	} {
		var d Decimal
		if err := d.UnmarshalJSON([]byte(tt.in)); err != nil || string(d) != tt.want {
			t.Errorf("Decimal.UnmarshalJSON(%s) = %q, %v; want %q", tt.in, d, err, tt.want)
		}
	}
}

// emailSeeds are addresses at the edges of net/mail's addr-spec and of
// the checks after it.
var emailSeeds = []string{
	"ann@example.com", "Ann.Lee+shop@Example.COM", "ann@bücher.de", "jörg@bücher.de",
	"ann@example", "ann.example.com", "ann@[192.0.2.1]", "ann@[192.0.2.1", "ann@-example.com",
	"ann@1.2.3.4", "Ann <ann@example.com>", "<ann@example.com>", "ann@example.com (Ann)",
	" ann@example.com", "ann@example.com ", "ann @example.com", "ann@ example.com",
	`"ann"@example.com`, `"a b"@example.com`, `""@example.com`, "a@b@example.com",
	".ann@example.com", "ann.@example.com", "a..nn@example.com", "ann@example..com",
	"ann@.example.com", "ann@example.com.", "@example.com", "ann@", "@", "",
	"ann\u200b@example.com", "ａnn@example.com", "ann@ｅxample.com", "ann@example。com",
	"ann\x00@example.com", "ann\x7f@example.com", "ann\xff@example.com", "ann@example.c\xc3",
	"ann\u00a0@example.com", "ann\u0085@example.com", "\ufffd@example.com", "ann@\ufffd.com",
	"a(b)c@example.com", "ann@exa(mple).com", "a\\b@example.com", "a,b@example.com",
	"a;b@example.com", "a:b@example.com", "a[b]@example.com", "a\tb@example.com",
	"!#$%&'*+-/=?^_`{|}~@example.com", "ann@exa_mple.com", "ann@xn--bcher-kva.de",
	"ann@xn--zz.de", "group: ann@example.com;", "=?utf-8?q?ann?=@example.com",
	strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 65) + "@example.com",
	"ann@" + strings.Repeat("a", 63) + ".com", "ann@" + strings.Repeat("a", 64) + ".com",
}

// FuzzEmailProblem: what bareAddrSpec vouches for, net/mail reads as a
// bare address equal to the string. emailProblem asks net/mail about every
// other string, and the checks after that are the same for both, so this
// is what makes emailProblem refuse exactly what it refused when it asked
// net/mail about every address. The fuzzer also runs emailProblem on
// every input (it must not panic, and the domain comes only with "").
func FuzzEmailProblem(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if bareAddrSpec(s) {
			a, err := mail.ParseAddress(s)
			if err != nil || a.Name != "" || a.Address != s {
				t.Fatalf("bareAddrSpec(%q) = true, but mail.ParseAddress = %+v, %v", s, a, err)
			}
		}
		if domain, problem := emailProblem(s); (domain == "") == (problem == "") {
			t.Fatalf("emailProblem(%q) = %q, %q: want a domain or a problem", s, domain, problem)
		}
	})
}

// TestBareAddrSpec pins which seeds take the shortcut: the common address
// forms must, or the shortcut saves nothing.
func TestBareAddrSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"ann@example.com", true},
		{"Ann.Lee+shop@Example.COM", true},
		{"jörg@bücher.de", true},
		{"!#$%&'*+-/=?^_`{|}~@example.com", true},
		{"ann@example", true}, // refused later, by the domain check
		{"ann@[192.0.2.1]", false},
		{`"ann"@example.com`, false},
		{"Ann <ann@example.com>", false},
		{"ann@example.com (Ann)", false},
		{" ann@example.com", false},
		{"a..nn@example.com", false},
		{".ann@example.com", false},
		{"ann@example.com.", false},
		{"a@b@example.com", false},
		{"ann\xff@example.com", false},
		{"\ufffd@example.com", true},
		{"ann\x7f@example.com", false},
		{"a\\b@example.com", false},
		{"@example.com", false},
		{"ann@", false},
		{"", false},
	} {
		if got := bareAddrSpec(tc.in); got != tc.want {
			t.Errorf("bareAddrSpec(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
