package screening

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/vpsgate/gateway/internal/iso3166"
	"github.com/vpsgate/gateway/internal/strictjson"
	"github.com/vpsgate/gateway/screening/ident"
)

// Bounds on an order body. They keep one request's cost (memory, Redis key
// sizes, log lines) small whatever a client sends.
const (
	// MaxOrderBytes is the largest order body DecodeOrder reads.
	MaxOrderBytes = 64 << 10
	// MaxItems is the most items an order may list.
	MaxItems = 100
	// maxString bounds every string field except the user agent.
	maxString = 256
	// maxUserAgent bounds user_agent: real browsers' user agents pass 256
	// characters now and then, and a long one must not fail a checkout.
	maxUserAgent = 1024
	maxOrderID   = 64
	maxEmail     = 254 // RFC 5321 path limit
	maxQuantity  = 1_000_000
	// maxAmountDigits bounds the integer part of an amount: 12 digits is
	// a trillion, far above any VPS order, and keeps float64 exact enough
	// for rule comparisons.
	maxAmountDigits = 12
)

// Order is the body of POST /api/v1/orders (PRODUCT.md §4 "Orders"). Its
// fields follow minFraud's request so the mapping is natural. Money stays a
// Decimal string; it is never a float.
type Order struct {
	OrderID        string  `json:"order_id"`
	Account        Account `json:"account"`
	IP             string  `json:"ip"`
	UserAgent      string  `json:"user_agent"`
	AcceptLanguage string  `json:"accept_language"`
	Billing        Billing `json:"billing"`
	Payment        Payment `json:"payment"`
	Amount         Decimal `json:"amount"`
	Currency       string  `json:"currency"`
	Items          []Item  `json:"items"`
	// PaidAt is when the order was paid (RFC 3339), when the storefront
	// knows it at submission; optional (the `paid` event sets it later).
	// Normalize writes it in UTC, so two spellings of one instant are one
	// order; omitted, the order's fingerprint is what it was before the
	// field existed.
	PaidAt string `json:"paid_at,omitempty"`

	// ScreeningID is not part of the body: Orders.Submit sets it to the
	// order's screening id (see Owner), under which the velocity counters
	// and minFraud know the order. Empty (Screener.Screen called on its
	// own), OrderID stands in.
	ScreeningID string `json:"-"`
}

// countingID is the id the velocity counters and minFraud know the order
// by.
func (o *Order) countingID() string {
	if o.ScreeningID != "" {
		return o.ScreeningID
	}
	return o.OrderID
}

// Account is the customer's account at the storefront.
type Account struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// Billing is the billing address. Country is ISO 3166-1 alpha-2.
type Billing struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Country   string `json:"country"`
	Region    string `json:"region"`
	City      string `json:"city"`
	Postal    string `json:"postal"`
	Address   string `json:"address"`
}

// Payment describes how the order is paid. Only the card's BIN (first 6-8
// digits) and last 4 digits are accepted, never a full card number.
type Payment struct {
	Processor string `json:"processor"`
	Method    string `json:"method"`
	CardBIN   string `json:"card_bin"`
	CardLast4 string `json:"card_last4"`
}

// Item is one line of the order.
type Item struct {
	SKU      string  `json:"sku"`
	Category string  `json:"category"`
	Price    Decimal `json:"price"`
	Quantity int     `json:"quantity"`
}

// Decimal is a non-negative decimal amount kept as its text ("12.00"). It
// reads a JSON string or a JSON number (storefronts send both) and always
// writes a JSON string, so both spellings give the same canonical order.
type Decimal string

// UnmarshalJSON accepts "12.00", 12.00 and null (empty). The format itself is
// checked by Order.Normalize.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		if s, ok := plainJSONString(b); ok {
			*d = Decimal(s)
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Decimal(s)
	case string(b) == "null":
		*d = ""
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*d = Decimal(b)
	default:
		// Returning an UnmarshalTypeError lets encoding/json add the
		// field's path.
		return &json.UnmarshalTypeError{Value: "non-number", Type: reflect.TypeFor[Decimal]()}
	}
	return nil
}

// plainJSONString returns the text of the JSON string b (quotes
// included) when it needs no unquoting: printable ASCII, no escape. That
// is what json.Unmarshal would return for it, without a second decoder
// run per amount; anything else (escapes, other bytes) is left to
// json.Unmarshal (FuzzPlainJSONString compares the two).
func plainJSONString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(inner), true
}

// Float returns the amount as a float64, for rule comparisons only. An empty
// or bad Decimal gives 0.
func (d Decimal) Float() float64 {
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil {
		return 0
	}
	return f
}

// DecodeOrder reads one order from r: a single JSON object of at most
// MaxOrderBytes, no unknown fields, nothing after it. The order is then
// checked and normalized (Order.Normalize). Errors wrap ErrInvalidInput (a
// *FieldError names the field by its JSON path) or ErrTooLarge; an error of
// r itself (an *http.MaxBytesError, a broken connection) is returned wrapped
// as it is.
func DecodeOrder(r io.Reader) (Order, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxOrderBytes+1))
	if err != nil {
		return Order{}, fmt.Errorf("reading order: %w", err)
	}
	if len(data) > MaxOrderBytes {
		return Order{}, fmt.Errorf("order body over %d bytes: %w", MaxOrderBytes, ErrTooLarge)
	}
	o, err := decodeOrderBytes(data)
	if err != nil {
		return Order{}, err
	}
	if err := o.Normalize(); err != nil {
		return Order{}, err
	}
	return o, nil
}

func decodeOrderBytes(data []byte) (Order, error) {
	var o Order
	if err := strictjson.Unmarshal(data, &o); err != nil {
		return Order{}, decodeError(data, err)
	}
	return o, nil
}

// decodeError turns strictjson's refusal into one naming the field.
// encoding/json names unknown fields without their path and type errors
// without array indexes, so the body is walked again to find the exact
// path; this only runs for bad bodies.
func decodeError(data []byte, err error) error {
	se, ok := errors.AsType[*strictjson.Error](err)
	if !ok {
		return fmt.Errorf("decoding order: %w: %w", ErrInvalidInput, err)
	}
	if se.Field == "" {
		return fmt.Errorf("%s: %w", se.Problem, ErrInvalidInput)
	}
	var generic any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if d.Decode(&generic) == nil {
		if fe := schemaProblem(generic, reflect.TypeFor[Order](), ""); fe != nil {
			return fe
		}
	}
	return fieldErr(se.Field, se.Problem)
}

// schemaProblem walks a generically decoded JSON value against the Go type t
// and returns the first unknown field or wrong type, with its full path.
func schemaProblem(v any, t reflect.Type, path string) error {
	if v == nil {
		return nil // null leaves the zero value, as encoding/json does
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch {
	case t == reflect.TypeFor[Decimal]():
		switch v.(type) {
		case string, json.Number:
			return nil
		}
		return fieldErr(path, "must be a decimal string like \"12.00\"")
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fieldErr(path, "must be an object")
		}
		fields := make(map[string]reflect.Type, t.NumField())
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		// Report in a stable order: the struct's field order, then
		// unknown keys sorted.
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if sub, ok := m[name]; ok {
				if err := schemaProblem(sub, f.Type, join(name)); err != nil {
					return err
				}
			}
		}
		var unknown []string
		for k := range m {
			if _, ok := fields[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return fieldErr(join(unknown[0]), "unknown field")
		}
		return nil
	case t.Kind() == reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return fieldErr(path, "must be an array")
		}
		for i, e := range a {
			if err := schemaProblem(e, t.Elem(), join(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			return fieldErr(path, "must be a string")
		}
		return nil
	case t.Kind() == reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			return fieldErr(path, "must be an integer")
		}
		if _, err := strconv.ParseInt(string(n), 10, 0); err != nil {
			return fieldErr(path, "must be an integer")
		}
		return nil
	}
	return nil
}

// Normalize checks every field of the order and puts it in canonical form,
// so that two spellings of one order are one order (Fingerprint, and so
// idempotency, compares canonical values):
//
//   - free text (names, address parts, account id, SKU, category) in
//     Unicode NFC, surrounding white space trimmed, inner runs of white
//     space one space;
//   - the email lower-cased, its domain in ASCII (punycode);
//   - country and currency codes upper case; a region code (up to three
//     letters or digits) and the postal code upper case;
//   - payment processor and method lower case, card digits trimmed;
//   - the phone number without the punctuation people write in it
//     (spaces, "-", ".", "(", ")", "/");
//   - amounts and prices without leading zeros and with exactly the
//     currency's minor units ("5", "5.0", "05.00" are "5.00" in USD), or
//     more decimals when given (up to two);
//   - the IP in its standard text form (an IPv4-mapped IPv6 address
//     becomes IPv4).
//
// The first problem found, in field order, is returned as a *FieldError.
// Normalize is idempotent.
func (o *Order) Normalize() error {
	o.canonicalText()
	v := validator{}
	v.orderID("order_id", o.OrderID)
	v.text("account.id", o.Account.ID, maxString)
	if o.Account.Email == "" {
		v.fail("account.email", "required")
	} else {
		domain := v.email("account.email", o.Account.Email)
		if v.err == nil {
			o.Account.Email = canonicalEmail(o.Account.Email, domain)
		}
	}
	v.text("account.name", o.Account.Name, maxString)
	v.text("account.phone", o.Account.Phone, maxString)
	if o.IP == "" {
		v.fail("ip", "required")
	} else if ip, err := netip.ParseAddr(o.IP); err != nil || ip.Zone() != "" {
		v.fail("ip", "not an IPv4 or IPv6 address")
	} else {
		o.IP = ip.Unmap().String()
	}
	v.text("user_agent", o.UserAgent, maxUserAgent)
	v.text("accept_language", o.AcceptLanguage, maxString)
	v.text("billing.first_name", o.Billing.FirstName, maxString)
	v.text("billing.last_name", o.Billing.LastName, maxString)
	switch {
	case o.Billing.Country == "":
		v.fail("billing.country", "required")
	case !iso3166.IsCountry(o.Billing.Country):
		v.fail("billing.country", "not an ISO 3166-1 alpha-2 country code")
	}
	v.text("billing.region", o.Billing.Region, maxString)
	v.text("billing.city", o.Billing.City, maxString)
	v.text("billing.postal", o.Billing.Postal, maxString)
	v.text("billing.address", o.Billing.Address, maxString)
	v.token("payment.processor", o.Payment.Processor)
	v.token("payment.method", o.Payment.Method)
	if o.Payment.CardBIN != "" && (!allDigits(o.Payment.CardBIN) || len(o.Payment.CardBIN) < 6 || len(o.Payment.CardBIN) > 8) {
		v.fail("payment.card_bin", "must be the card's first 6 to 8 digits")
	}
	if o.Payment.CardLast4 != "" && (!allDigits(o.Payment.CardLast4) || len(o.Payment.CardLast4) != 4) {
		v.fail("payment.card_last4", "must be the card's last 4 digits")
	}
	minor, knownCurrency := currencyMinorUnits(o.Currency)
	if o.Amount == "" {
		v.fail("amount", "required")
	} else {
		o.Amount = v.decimal("amount", o.Amount, minor)
	}
	switch {
	case o.Currency == "":
		v.fail("currency", "required")
	case !knownCurrency:
		v.fail("currency", "not an ISO 4217 currency code")
	}
	if len(o.Items) > MaxItems {
		v.fail("items", fmt.Sprintf("at most %d items", MaxItems))
	}
	if len(o.Items) == 0 {
		// "items": [] and no items are the same order: one form, so that
		// Normalize is idempotent and both have the same fingerprint.
		o.Items = nil
	}
	for i, it := range o.Items {
		p := "items." + strconv.Itoa(i) + "."
		if it.SKU == "" {
			v.fail(p+"sku", "required")
		} else {
			v.text(p+"sku", it.SKU, maxString)
		}
		v.text(p+"category", it.Category, maxString)
		if it.Price != "" {
			o.Items[i].Price = v.decimal(p+"price", it.Price, minor)
		}
		if it.Quantity < 1 || it.Quantity > maxQuantity {
			v.fail(p+"quantity", fmt.Sprintf("must be between 1 and %d", maxQuantity))
		}
	}
	if o.PaidAt != "" {
		o.PaidAt = v.instant("paid_at", o.PaidAt)
	}
	return v.err
}

// canonicalText puts the text fields in their canonical spelling before
// they are checked (see Normalize). Only differences that never change
// what a value means are folded.
func (o *Order) canonicalText() {
	for _, p := range []*string{
		&o.Account.ID, &o.Account.Name, &o.Billing.FirstName, &o.Billing.LastName,
		&o.Billing.Region, &o.Billing.City, &o.Billing.Postal, &o.Billing.Address,
	} {
		*p = foldSpace(*p)
	}
	for i := range o.Items {
		o.Items[i].SKU = foldSpace(o.Items[i].SKU)
		o.Items[i].Category = foldSpace(o.Items[i].Category)
	}
	o.Account.Email = strings.TrimSpace(o.Account.Email)
	// NFC last: dropping a character may bring a letter and a combining
	// mark together.
	o.Account.Phone = norm.NFC.String(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || strings.ContainsRune("-.()/", r) {
			return -1
		}
		return r
	}, o.Account.Phone))
	o.UserAgent = strings.TrimSpace(o.UserAgent)
	o.AcceptLanguage = strings.TrimSpace(o.AcceptLanguage)
	o.Billing.Country = strings.ToUpper(strings.TrimSpace(o.Billing.Country))
	o.Currency = strings.ToUpper(strings.TrimSpace(o.Currency))
	o.Billing.Postal = strings.ToUpper(o.Billing.Postal)
	if r := o.Billing.Region; len(r) <= 3 && isAlnumASCII(r) {
		o.Billing.Region = strings.ToUpper(r) // an ISO 3166-2 subdivision code
	}
	o.Payment.Processor = strings.ToLower(strings.TrimSpace(o.Payment.Processor))
	o.Payment.Method = strings.ToLower(strings.TrimSpace(o.Payment.Method))
	o.Payment.CardBIN = strings.TrimSpace(o.Payment.CardBIN)
	o.Payment.CardLast4 = strings.TrimSpace(o.Payment.CardLast4)
	o.Amount = Decimal(strings.TrimSpace(string(o.Amount)))
	for i := range o.Items {
		o.Items[i].Price = Decimal(strings.TrimSpace(string(o.Items[i].Price)))
	}
}

// foldSpace returns s in Unicode NFC with surrounding white space trimmed
// and every inner run of spaces one space. Inner tabs, line breaks and
// other control characters are kept, for the validator to refuse: they
// could forge log lines or headers. Invalid UTF-8 is left as it is, for
// the validator too.
func foldSpace(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	s = strings.TrimSpace(s)
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return norm.NFC.String(s)
}

func isAlnumASCII(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// canonicalEmail lower-cases a valid address s (emailProblem passed) and
// writes its domain in ASCII, as emailProblem returned it: DNS names are
// case-insensitive and an internationalized domain has one ASCII form, and
// no mail provider a VPS customer uses treats the local part's case as
// significant (the velocity and blocklist identifiers fold it too, see
// ident.NormalizeEmail).
func canonicalEmail(s, domainASCII string) string {
	at := strings.LastIndexByte(s, '@')
	return norm.NFC.String(strings.ToLower(norm.NFC.String(s[:at]))) + "@" + domainASCII
}

// validator keeps the first problem found.
type validator struct{ err error }

func (v *validator) fail(field, problem string) {
	if v.err == nil {
		v.err = fieldErr(field, problem)
	}
}

// text checks a free-text field: bounded, valid UTF-8, no control
// characters (which would let a value forge log lines or headers).
func (v *validator) text(field, s string, max int) {
	if utf8.RuneCountInString(s) > max {
		v.fail(field, fmt.Sprintf("longer than %d characters", max))
		return
	}
	if !utf8.ValidString(s) {
		v.fail(field, "not valid UTF-8")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			v.fail(field, "contains a control or invalid character")
			return
		}
	}
}

// instant checks an RFC 3339 time and returns it in canonical form: UTC,
// fractional seconds only when given.
func (v *validator) instant(field, s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.fail(field, "not an RFC 3339 time like 2026-03-01T12:00:00Z")
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// orderID allows the characters that are safe in a URL path segment, a
// Redis key and a log line without escaping.
func (v *validator) orderID(field, s string) {
	if s == "" {
		v.fail(field, "required")
		return
	}
	if len(s) > maxOrderID {
		v.fail(field, fmt.Sprintf("longer than %d characters", maxOrderID))
		return
	}
	for _, c := range []byte(s) {
		if !isIDChar(c) {
			v.fail(field, "only letters, digits and . _ - : are allowed")
			return
		}
	}
	if IsScreeningID(s) {
		// The API reads an id of this shape as a screening id.
		v.fail(field, "has the shape of a screening id (scr_ and 22 characters), which is reserved")
	}
}

func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':'
}

// token checks a short machine word such as "stripe" or "card".
func (v *validator) token(field, s string) {
	if len(s) > 64 {
		v.fail(field, "longer than 64 characters")
		return
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			v.fail(field, "only letters, digits and _ - . are allowed")
			return
		}
	}
}

// decimal checks a non-negative amount: digits, an optional point and at
// most max(2, the currency's minor units) decimals. It returns the amount
// in canonical form: no leading zeros, trailing zeros of the fraction
// dropped and then the fraction padded to the currency's minor units
// ("012.5", "12.500" and 12.5 are "12.50" in USD; "500.00" is "500" in
// JPY). It is a JSON number's text, as minFraud's request carries it.
func (v *validator) decimal(field string, d Decimal, minor int) Decimal {
	places := max(2, minor)
	intPart, frac, hasPoint := strings.Cut(string(d), ".")
	switch {
	case intPart == "" || !allDigits(intPart) || hasPoint && (frac == "" || !allDigits(frac)):
		v.fail(field, "must be a non-negative decimal like \"12.00\"")
		return d
	case len(frac) > places:
		v.fail(field, fmt.Sprintf("more than %d decimals", places))
		return d
	}
	intPart = cmp.Or(strings.TrimLeft(intPart, "0"), "0")
	if len(intPart) > maxAmountDigits {
		v.fail(field, fmt.Sprintf("more than %d digits before the point", maxAmountDigits))
		return d
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) < minor {
		frac += strings.Repeat("0", minor-len(frac))
	}
	if frac == "" {
		return Decimal(intPart)
	}
	return Decimal(intPart + "." + frac)
}

// email checks an address the way a checkout form should: a bare address
// (no display name, no comments), at most 254 bytes, a local part of at
// most 64 bytes and a domain name made of valid labels with at least one
// dot. Domain literals ([192.0.2.1]) are refused. The address must also
// have a canonical form (ident.NormalizeEmail: an ASCII dot-atom local
// part): one without would be neither counted nor checked against the email
// and email-domain blocklists, so a zero-width space or a full-width letter
// would slip past them. It returns the domain's ASCII form when s passes.
func (v *validator) email(field, s string) (domainASCII string) {
	domainASCII, problem := emailProblem(s)
	if problem != "" {
		v.fail(field, problem)
	}
	return domainASCII
}

// emailProblem says what is wrong with s as an order's email address, ""
// when nothing is; for a valid address it also returns the domain's ASCII
// form, which it had to compute to check it.
func emailProblem(s string) (domainASCII, problem string) {
	if len(s) > maxEmail {
		return "", fmt.Sprintf("longer than %d bytes", maxEmail)
	}
	if !bareAddrSpec(s) {
		// The rare address bareAddrSpec cannot vouch for (a domain
		// literal, a quoted local part, a display name, comments, or no
		// address at all) is judged by net/mail, which takes it only as
		// a bare address equal to s.
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			return "", "not a valid email address"
		}
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "", "local part longer than 64 bytes"
	}
	for _, r := range local {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", "not a valid email address"
		}
	}
	domainASCII, ok := emailDomainASCII(domain)
	if !ok {
		return "", "not a valid email domain"
	}
	if _, err := ident.NormalizeEmail(s); err != nil {
		return "", "not a valid email address (the part before @ must be letters, digits and the punctuation of an address)"
	}
	return domainASCII, ""
}

// bareAddrSpec reports whether s is local@domain with both parts RFC 5322
// dot-atoms as net/mail reads them (its atext: printable ASCII but the
// specials, and any valid multi-byte UTF-8; no leading, trailing or double
// dot). mail.ParseAddress reads such an s as an address equal to s with no
// name, so it need not be asked: it costs five allocations, and every
// order's address is checked this way.
func bareAddrSpec(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && mailDotAtom(local) && mailDotAtom(domain)
}

func mailDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			return false
		case r >= utf8.RuneSelf, r == '.':
		case r < '!' || r > '~' || strings.ContainsRune(`()<>[]:;@\,"`, r):
			return false
		}
	}
	return true
}

// emailDomainASCII returns the lower-case ASCII (punycode) form of an email
// domain, and whether it is a plausible host name: valid labels, at least
// two of them, a top-level label that is not all digits.
func emailDomainASCII(domain string) (string, bool) {
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" || len(ascii) > 253 {
		return "", false
	}
	if !strings.Contains(ascii, ".") { // a single label
		return "", false
	}
	var last string
	for l := range strings.SplitSeq(ascii, ".") { // not Split: every order's email passes here
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
		last = l
	}
	if allDigits(last) {
		return "", false
	}
	return ascii, true
}

// cardIIN is the issuer number the gateway uses of a card's BIN: a 7-digit
// BIN is cut to its first 6 digits, because minFraud, the card fingerprint
// (ident.CardFingerprint) and the blocklist take 6 or 8.
func cardIIN(bin string) string {
	if len(bin) == 7 {
		return bin[:6]
	}
	return bin
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
