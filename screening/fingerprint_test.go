package screening

import (
	"strings"
	"testing"
)

// TestFingerprintCanonical (issue 7, finding 11): idempotency compares
// canonical values. Every field where two spellings mean the same order is
// listed with a spelling that must replay (same fingerprint), and a value
// that means another order and must conflict (another fingerprint).
func TestFingerprintCanonical(t *testing.T) {
	t.Parallel()
	twoItems := `[{"sku": "vps-1", "category": "vps", "price": "12.00", "quantity": 1}, {"sku": "ipv4", "category": "addon", "price": "2.00", "quantity": 2}]`
	twoItemsSwapped := `[{"quantity": 2, "price": "2.0", "category": "addon", "sku": "ipv4"}, {"sku": "vps-1", "category": "vps", "price": 12, "quantity": 1}]`
	withItems := func(items string) string {
		i := strings.Index(exampleOrder, `"items": [`)
		return exampleOrder[:i] + `"items": ` + items + `}`
	}
	tests := []struct {
		name      string
		a, b      string
		sameOrder bool
	}{
		// Same order, other spelling.
		{"amount 5.0 vs 5.00", withField(t, "amount", "5.00", false), withField(t, "amount", "5.0", false), true},
		{"amount 05.00", withField(t, "amount", "5.00", false), withField(t, "amount", "05.00", false), true},
		{"amount 5", withField(t, "amount", "5.00", false), withField(t, "amount", "5", false), true},
		{"amount as a JSON number", withField(t, "amount", "5.00", false), strings.Replace(exampleOrder, `"amount": "12.00"`, `"amount": 5.0`, 1), true},
		{"amount with spaces", withField(t, "amount", "5.00", false), withField(t, "amount", " 5.00 ", false), true},
		{"JPY amount 500.00 vs 500", withField(t, "currency", "JPY", false), strings.Replace(withField(t, "currency", "JPY", false), `"12.00"`, `"12"`, 2), true},
		{"item price 12.0", exampleOrder, withField(t, "items.0.price", "12.0", false), true},
		{"item price as a number", exampleOrder, withField(t, "items.0.price", 12, false), true},
		{"country case and space", exampleOrder, withField(t, "billing.country", " us ", false), true},
		{"currency case", exampleOrder, withField(t, "currency", "usd", false), true},
		{"email case", exampleOrder, withField(t, "account.email", "Ann@Example.COM", false), true},
		{"email with spaces", exampleOrder, withField(t, "account.email", " ann@example.com ", false), true},
		{"email domain in Unicode and punycode", withField(t, "account.email", "ann@bücher.example", false), withField(t, "account.email", "ann@xn--bcher-kva.example", false), true},
		{"name spacing", exampleOrder, withField(t, "account.name", "  Ann   Lee ", false), true},
		{"name composed vs decomposed", withField(t, "account.name", "Zo\u00eb", false), withField(t, "account.name", "Zoe\u0308", false), true},
		{"address spacing", exampleOrder, withField(t, "billing.address", "1  Main St ", false), true},
		{"city spacing", exampleOrder, withField(t, "billing.city", " San Francisco", false), true},
		{"postal case", withField(t, "billing.postal", "SW1A 1AA", false), withField(t, "billing.postal", "sw1a 1aa", false), true},
		{"region code case", exampleOrder, withField(t, "billing.region", "ca", false), true},
		{"phone punctuation", exampleOrder, withField(t, "account.phone", "+1 (415) 555-0100", false), true},
		{"processor case", exampleOrder, withField(t, "payment.processor", "Stripe", false), true},
		{"method case", exampleOrder, withField(t, "payment.method", "CARD", false), true},
		{"card digits with spaces", exampleOrder, withField(t, "payment.card_bin", " 411111 ", false), true},
		{"IPv4-mapped IP", exampleOrder, withField(t, "ip", "::ffff:198.51.100.7", false), true},
		{"sku spacing", exampleOrder, withField(t, "items.0.sku", " vps-1", false), true},
		{"item order", withItems(twoItems), withItems(twoItemsSwapped), true},
		{"JSON key order and spacing", exampleOrder, `{"currency":"USD","amount":"12.00","order_id":"INV-1001","ip":"198.51.100.7","user_agent":"Mozilla/5.0 ...","accept_language":"en-US",
			"items":[{"quantity":1,"price":"12.00","category":"vps","sku":"vps-1"}],"payment":{"card_last4":"1111","card_bin":"411111","method":"card","processor":"stripe"},
			"billing":{"address":"1 Main St","postal":"94107","city":"San Francisco","region":"CA","country":"US","last_name":"Lee","first_name":"Ann"},
			"account":{"phone":"+1 415 555 0100","name":"Ann Lee","email":"ann@example.com","id":"42"}}`, true},
		{"paid_at in another zone", withField(t, "paid_at", "2026-03-01T12:00:00Z", false), withField(t, "paid_at", "2026-03-01T13:00:00+01:00", false), true},
		{"paid_at with zero fraction", withField(t, "paid_at", "2026-03-01T12:00:00Z", false), withField(t, "paid_at", "2026-03-01T12:00:00.000Z", false), true},
		{"empty items vs none", withField(t, "items", []any{}, false), withField(t, "items", nil, true), true},

		// Another order: must conflict, never replay another answer.
		{"amount 5.00 vs 5.01", withField(t, "amount", "5.00", false), withField(t, "amount", "5.01", false), false},
		{"amount 5 vs 50", withField(t, "amount", "5", false), withField(t, "amount", "50", false), false},
		{"currency", exampleOrder, withField(t, "currency", "EUR", false), false},
		{"country", exampleOrder, withField(t, "billing.country", "DE", false), false},
		{"email local part", exampleOrder, withField(t, "account.email", "ann2@example.com", false), false},
		{"email +tag", exampleOrder, withField(t, "account.email", "ann+x@example.com", false), false},
		{"email dots", exampleOrder, withField(t, "account.email", "a.nn@example.com", false), false},
		{"item quantity", exampleOrder, withField(t, "items.0.quantity", 2, false), false},
		{"item price", exampleOrder, withField(t, "items.0.price", "12.01", false), false},
		{"item repeated is not one item", withItems(`[{"sku": "a", "quantity": 1}, {"sku": "a", "quantity": 1}]`), withItems(`[{"sku": "a", "quantity": 2}]`), false},
		{"card BIN", exampleOrder, withField(t, "payment.card_bin", "41111111", false), false},
		{"IP", exampleOrder, withField(t, "ip", "198.51.100.8", false), false},
		{"name", exampleOrder, withField(t, "account.name", "Ann Le", false), false},
		{"address", exampleOrder, withField(t, "billing.address", "11 Main St", false), false},
		{"paid_at", withField(t, "paid_at", "2026-03-01T12:00:00Z", false), withField(t, "paid_at", "2026-03-01T12:00:01Z", false), false},
		{"paid_at given or not", exampleOrder, withField(t, "paid_at", "2026-03-01T12:00:00Z", false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fa, fb := fingerprintOf(t, tt.a), fingerprintOf(t, tt.b)
			if (fa == fb) != tt.sameOrder {
				t.Errorf("Fingerprint(a) == Fingerprint(b) is %v, want %v\na: %s\nb: %s", fa == fb, tt.sameOrder, tt.a, tt.b)
			}
		})
	}
}

func fingerprintOf(t *testing.T, body string) string {
	t.Helper()
	o, err := DecodeOrder(strings.NewReader(body))
	if err != nil {
		t.Fatalf("DecodeOrder(%s) = %v", body, err)
	}
	// Normalize is idempotent: a stored canonical order normalizes to
	// itself, so a replay compares like with like.
	again := o
	again.Items = append([]Item(nil), o.Items...)
	if err := again.Normalize(); err != nil {
		t.Fatalf("Normalize(normalized) = %v", err)
	}
	fp, err := Fingerprint(o)
	if err != nil {
		t.Fatal(err)
	}
	if fp2, _ := Fingerprint(again); fp2 != fp {
		t.Errorf("Normalize is not idempotent on %s", body)
	}
	return fp
}
