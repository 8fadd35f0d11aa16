package screening

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Body formats of an intercepted checkout.
const (
	FormatForm = "form" // application/x-www-form-urlencoded or multipart/form-data
	FormatJSON = "json" // application/json or application/*+json
	FormatAuto = "auto" // either, by Content-Type
)

// What a route does with a checkout that carries no billing country
// (InterceptRoute.MissingDetails).
const (
	MissingDetailsRefuse = "refuse"
	MissingDetailsDefer  = "defer"
)

// maxJSONDepth bounds the nesting of an intercepted JSON body.
const maxJSONDepth = 32

// InterceptRoute says how to read an order out of a storefront's checkout
// request (the top-level `intercept` config list). The gateway screens the
// request before forwarding it; the client IP, user agent and
// Accept-Language come from the request itself, never from the body.
type InterceptRoute struct {
	// Method is optional and does not narrow the match: a PUT or DELETE
	// to the checkout path is screened like a POST. It is kept so that
	// older files load; when given it must be POST, PUT or PATCH.
	Method string `yaml:"method"`
	// Path is the checkout's path ("/checkout"). The gateway screens every
	// request on it and below it ("/checkout/index.php", PATH_INFO), read
	// as the most lenient storefront would (case folded, "checkout.",
	// "checkout;x", dot segments), with every method but GET, HEAD and
	// OPTIONS.
	Path string `yaml:"path"`
	// Format is form, json or auto (default auto).
	Format string `yaml:"format"`
	// Fields maps order fields (JSON paths of the order body: "order_id",
	// "account.email", "billing.country", "items.0.sku", "amount", ...)
	// to body fields: a form key, or a dotted JSON path ("customer.email",
	// "cart.0.id"). order_id is required: it is the idempotency key. A
	// field is read as the storefront would read it: a JSON key in any
	// case (as encoding/json matches), a form key under every spelling PHP
	// files under the same name ("card.bin" for card_bin); two values for
	// one field, or an array, are refused.
	Fields map[string]string `yaml:"fields"`
	// Defaults gives constant order fields ("currency": "USD"); a body
	// field mapped to the same order field wins when present.
	Defaults map[string]string `yaml:"defaults"`

	// Profile names a built-in storefront profile (profiles.go:
	// woocommerce-classic, woocommerce-blocks, whmcs, blesta) that brings
	// the routes, field map and transforms. Any other key of the entry
	// overrides the profile's: fields and defaults key by key, format and
	// each transform when set; path, paths or match_query replace all of
	// the profile's matchers with the entry's own.
	Profile string `yaml:"profile"`
	// Paths are more checkout paths, matched like Path.
	Paths []string `yaml:"paths"`
	// MatchQuery narrows the route to requests whose query carries these
	// parameters with these values ({"wc-ajax": "checkout"}), read as the
	// storefront reads them (match.go); "*" matches any value. Other
	// requests on the path pass untouched.
	MatchQuery map[string]string `yaml:"match_query"`
	// MatchBody makes a form body's parameters count for MatchQuery too
	// ($_REQUEST, where the body wins, or WordPress's query vars).
	MatchBody bool `yaml:"match_body"`
	// Transforms derive order fields the form does not carry as they are.
	Transforms Transforms `yaml:"transforms"`
	// MissingDetails is what happens to a checkout whose body has no
	// billing country at all (or carries a DeferWhen parameter): refuse
	// (default: 400, like any other invalid checkout) or defer (forwarded
	// unscreened with "X-Screening-Decision: deferred", for the billing
	// system's hook module to screen the order it creates; see
	// ErrDeferred).
	MissingDetails string `yaml:"missing_details"`
	// DeferWhen names parameters (read like match_query, from the query
	// and a form body, as PHP's $_REQUEST) whose presence means the billing
	// system places the order with details it has stored, not the form's:
	// under missing_details: defer such a checkout is deferred too (the
	// whmcs profile: account_id, WHMCS 8's choice of a client's account).
	DeferWhen map[string]string `yaml:"defer_when"`

	// matchers are the profile's, set by SetDefaults; nil: the entry's own.
	matchers []Matcher
}

// Matchers returns the ways the route recognises its checkout: the
// profile's, or one made of the entry's path, paths, match_query and
// match_body.
func (r InterceptRoute) Matchers() []Matcher {
	if r.matchers != nil {
		return r.matchers
	}
	var paths []string
	if r.Path != "" {
		paths = append(paths, r.Path)
	}
	paths = append(paths, r.Paths...)
	return []Matcher{{Paths: paths, MatchQuery: r.MatchQuery, MatchBody: r.MatchBody}}
}

// orderPaths are the order fields a route may set. ip, user_agent and
// accept_language are not among them: the gateway supplies those.
var orderPaths = []string{
	"order_id",
	"account.id", "account.email", "account.name", "account.phone",
	"billing.first_name", "billing.last_name", "billing.country", "billing.region",
	"billing.city", "billing.postal", "billing.address",
	"payment.processor", "payment.method", "payment.card_bin", "payment.card_last4",
	"amount", "currency",
}

var itemFields = []string{"sku", "category", "price", "quantity"}

// SetDefaults fills unset values.
func (r *InterceptRoute) SetDefaults() {
	if p, ok := profiles()[r.Profile]; ok {
		r.applyProfile(p)
	}
	if r.Format == "" {
		r.Format = FormatAuto
	}
	if r.MissingDetails == "" {
		r.MissingDetails = MissingDetailsRefuse
	}
	if r.Transforms.CardNumber != "" && r.Transforms.CardBINDigits == 0 {
		r.Transforms.CardBINDigits = 6
	}
	r.Method = strings.ToUpper(r.Method)
}

// Validate reports every problem of the route. Keys are relative to the
// route ("fields.billing.country").
func (r InterceptRoute) Validate() error {
	var errs []error
	add := func(key string, value any, problem string) {
		errs = append(errs, configerr.Field(key, value, problem))
	}
	switch r.Method {
	case "", "POST", "PUT", "PATCH":
	default:
		add("method", r.Method, "must be POST, PUT or PATCH, or left out (every method with a body is screened)")
	}
	if r.Profile != "" {
		if _, ok := profiles()[r.Profile]; !ok {
			add("profile", r.Profile, "must be one of "+strings.Join(ProfileNames(), ", "))
		}
	}
	ms := r.Matchers()
	for i, m := range ms {
		key := func(k string) string {
			if r.matchers == nil {
				return k
			}
			return fmt.Sprintf("profile(%s)[%d].%s", r.Profile, i, k)
		}
		if len(m.Paths) == 0 {
			add(key("path"), nil, "is required (or paths, or a profile)")
		}
		for _, p := range m.Paths {
			if problem := routePathProblem(p); problem != "" {
				add(key("path"), p, problem)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m.MatchQuery)) {
			if v := m.MatchQuery[k]; k == "" || v == "" || strings.ContainsAny(k, "[]=&;") {
				add(key("match_query."+k), v, "a parameter name without [ ] = & ; and a value (or \"*\" for any value)")
			}
		}
		if m.MatchBody && len(m.MatchQuery) == 0 {
			add(key("match_body"), true, "needs match_query")
		}
	}
	errs = append(errs, r.Transforms.validate(r.Fields))
	switch r.Format {
	case FormatForm, FormatJSON, FormatAuto:
	default:
		add("format", r.Format, "must be form, json or auto")
	}
	for _, k := range slices.Sorted(maps.Keys(r.DeferWhen)) {
		if v := r.DeferWhen[k]; k == "" || v == "" || strings.ContainsAny(k, "[]=&;") {
			add("defer_when."+k, v, "a parameter name without [ ] = & ; and a value (or \"*\" for any value)")
		}
	}
	switch r.MissingDetails {
	case MissingDetailsRefuse:
		if len(r.DeferWhen) > 0 {
			add("defer_when", DescribeQuery(r.DeferWhen), "needs missing_details: defer")
		}
	case MissingDetailsDefer:
		if r.Defaults["billing.country"] != "" {
			add("missing_details", r.MissingDetails, "defer needs a billing country read from the body, not defaults.billing.country")
		}
	default:
		add("missing_details", r.MissingDetails, "must be refuse or defer")
	}
	if r.Fields["order_id"] == "" && !r.Transforms.GenerateOrderID {
		add("fields.order_id", nil, "is required: the body field carrying the order id (the idempotency key), or transforms.generate_order_id")
	}
	items := map[int]bool{}
	check := func(section string, m map[string]string, isDefault bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			key := section + "." + k
			idx, ok := orderPathIndex(k)
			if !ok {
				add(key, nil, "not an order field the route can set (ip, user_agent and accept_language come from the request)")
				continue
			}
			if idx >= 0 {
				items[idx] = true
			}
			if isDefault {
				if k == "order_id" {
					add(key, v, "order_id cannot be a constant")
					continue
				}
				var o Order
				if err := setOrderField(&o, k, v); err != nil {
					add(key, v, err.Error())
				}
				continue
			}
			if v == "" || strings.Contains(v, "..") || strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") {
				add(key, v, "must name a body field")
			}
		}
	}
	check("fields", r.Fields, false)
	check("defaults", r.Defaults, true)
	for i := range len(items) {
		if !items[i] {
			add("fields", nil, fmt.Sprintf("items must be numbered from 0 without gaps (items.%d is missing)", i))
			break
		}
	}
	for _, req := range []string{"account.email", "billing.country", "amount", "currency"} {
		if r.Fields[req] == "" && r.Defaults[req] == "" {
			add("fields."+req, nil, "is required (in fields or defaults)")
		}
	}
	return errors.Join(errs...)
}

// routePathProblem says what is wrong with a route path, or "". A route
// path is written in the form the gateway matches in (apart from case), so
// that the file says what is screened.
func routePathProblem(p string) string {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return "must be a clean absolute path like /checkout"
	}
	if strings.ContainsAny(p, "\\;?#%") || strings.ContainsFunc(p, unicode.IsControl) {
		return `must not contain \, ;, ?, #, % or control characters`
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
			return "a segment must not end in a dot or a space (storefronts on Windows drop them)"
		}
	}
	if lower := strings.ToLower(p); lower == "/_gateway" || strings.HasPrefix(lower, "/_gateway/") {
		return "must not be under /_gateway/ (the gateway's own pages, never proxied)"
	}
	return ""
}

// orderPathIndex reports whether p is a settable order path, and for
// "items.N.field" returns N (else -1).
func orderPathIndex(p string) (int, bool) {
	if slices.Contains(orderPaths, p) {
		return -1, true
	}
	rest, ok := strings.CutPrefix(p, "items.")
	if !ok {
		return 0, false
	}
	n, field, ok := strings.Cut(rest, ".")
	if !ok || !slices.Contains(itemFields, field) {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || i >= MaxItems || strconv.Itoa(i) != n {
		return 0, false
	}
	return i, true
}

// setOrderField sets one order field from text.
func setOrderField(o *Order, p, v string) error {
	switch p {
	case "order_id":
		o.OrderID = v
	case "account.id":
		o.Account.ID = v
	case "account.email":
		o.Account.Email = v
	case "account.name":
		o.Account.Name = v
	case "account.phone":
		o.Account.Phone = v
	case "billing.first_name":
		o.Billing.FirstName = v
	case "billing.last_name":
		o.Billing.LastName = v
	case "billing.country":
		o.Billing.Country = v
	case "billing.region":
		o.Billing.Region = v
	case "billing.city":
		o.Billing.City = v
	case "billing.postal":
		o.Billing.Postal = v
	case "billing.address":
		o.Billing.Address = v
	case "payment.processor":
		o.Payment.Processor = v
	case "payment.method":
		o.Payment.Method = v
	case "payment.card_bin":
		o.Payment.CardBIN = v
	case "payment.card_last4":
		o.Payment.CardLast4 = v
	case "amount":
		o.Amount = Decimal(v)
	case "currency":
		o.Currency = v
	default:
		i, ok := orderPathIndex(p)
		if !ok || i < 0 {
			return fmt.Errorf("unknown order field %q", p)
		}
		for len(o.Items) <= i {
			o.Items = append(o.Items, Item{})
		}
		it := &o.Items[i]
		switch p[strings.LastIndexByte(p, '.')+1:] {
		case "sku":
			it.SKU = v
		case "category":
			it.Category = v
		case "price":
			it.Price = Decimal(v)
		case "quantity":
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("must be a whole number")
			}
			it.Quantity = n
		}
	}
	return nil
}

// MapOrder builds a normalized order from a checkout request: its
// Content-Type, raw query string, Cookie headers and body. The IP, user
// agent and Accept-Language come from the gateway; an over-long user agent
// or Accept-Language is cut rather than failing the checkout. A body field
// named in the query string or a cookie is refused (see CheckQuery and
// CheckCookies), as is a form body that the storefront's parser could read
// differently (see form.go).
// Errors wrap ErrUnsupportedMediaType (Content-Type does not fit the
// route), ErrTooLarge, or ErrInvalidInput; a *FieldError names the body
// field (the order field when the value came from Defaults). Under
// missing_details: defer, a body without the billing country field is a
// *DeferredError (which is ErrDeferred, and ErrInvalidInput too).
func (r InterceptRoute) MapOrder(contentType, rawQuery string, cookies []string, body []byte, clientIP netip.Addr, userAgent, acceptLanguage string) (Order, error) {
	if len(body) > MaxOrderBytes {
		return Order{}, fmt.Errorf("checkout body over %d bytes: %w", MaxOrderBytes, ErrTooLarge)
	}
	if err := r.CheckQuery(rawQuery); err != nil {
		return Order{}, err
	}
	if err := r.CheckCookies(cookies); err != nil {
		return Order{}, err
	}
	lookup, err := r.bodyLookup(contentType, body)
	if err != nil {
		return Order{}, err
	}
	var o Order
	for _, k := range slices.Sorted(maps.Keys(r.Defaults)) {
		if err := setOrderField(&o, k, r.Defaults[k]); err != nil {
			return Order{}, fieldErr(k, err.Error())
		}
	}
	// Sorted so that the first error reported does not depend on map
	// order.
	keys := slices.Sorted(maps.Keys(r.Fields))
	values := make([]string, len(keys))
	present := make([]bool, len(keys))
	for i, k := range keys {
		name := r.Fields[k]
		v, ok, err := lookup(name)
		if err != nil {
			return Order{}, fieldErr(name, err.Error())
		}
		values[i], present[i] = v, ok
	}
	// Only once every mapped field has been read as the storefront reads
	// it (no array, no second copy, nothing in the query or a cookie): a
	// body that could carry a country some other way is refused above.
	if r.MissingDetails == MissingDetailsDefer {
		if len(r.DeferWhen) > 0 {
			m := Matcher{MatchQuery: r.DeferWhen, MatchBody: true}
			ok, err := m.Match(rawQuery, contentType, body)
			if err != nil {
				return Order{}, err
			}
			if ok {
				return Order{}, &DeferredError{Field: DescribeQuery(r.DeferWhen), Problem: "the order goes on stored details; deferred"}
			}
		}
		if i, ok := slices.BinarySearch(keys, "billing.country"); ok && !present[i] {
			return Order{}, &DeferredError{Field: r.Fields["billing.country"], Problem: "required (the checkout carries no billing country; deferred)"}
		}
	}
	for i, k := range keys {
		if !present[i] {
			continue
		}
		if err := setOrderField(&o, k, values[i]); err != nil {
			return Order{}, fieldErr(r.Fields[k], err.Error())
		}
	}
	if err := r.Transforms.apply(&o, lookup); err != nil {
		return Order{}, err
	}
	if !clientIP.IsValid() {
		return Order{}, errors.New("mapping checkout: no client IP")
	}
	o.IP = clientIP.Unmap().WithZone("").String()
	o.UserAgent = truncateRunes(userAgent, maxUserAgent)
	o.AcceptLanguage = truncateRunes(acceptLanguage, maxString)
	if err := o.Normalize(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			if name, ok := r.bodyFieldFor(fe.Field); ok {
				return Order{}, fieldErr(name, fe.Problem)
			}
		}
		return Order{}, err
	}
	return o, nil
}

// bodyFieldFor returns the body field mapped to an order path.
func (r InterceptRoute) bodyFieldFor(orderPath string) (string, bool) {
	name, ok := r.Fields[orderPath]
	return name, ok && name != ""
}

// lookupFunc returns a body field's value and whether it is present.
type lookupFunc func(name string) (string, bool, error)

func (r InterceptRoute) bodyLookup(contentType string, body []byte) (lookupFunc, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, ErrUnsupportedMediaType)
	}
	isJSON := mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
	isForm := mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
	switch {
	case isJSON && (r.Format == FormatJSON || r.Format == FormatAuto):
		return jsonLookup(body)
	case isForm && (r.Format == FormatForm || r.Format == FormatAuto):
		return formLookup(mt, contentType, params, body)
	}
	return nil, fmt.Errorf("content type %q for a %s route: %w", mt, r.Format, ErrUnsupportedMediaType)
}

func jsonLookup(body []byte) (lookupFunc, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	root, err := decodeStrict(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON body: %w: %w", ErrInvalidInput, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("malformed JSON body: data after the value: %w", ErrInvalidInput)
	}
	return func(name string) (string, bool, error) {
		v := root
		for seg := range strings.SplitSeq(name, ".") {
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[seg]; !ok {
					// encoding/json (a Go storefront) takes a key in
					// any case; decodeStrict made it unique.
					for k, kv := range x {
						if foldKey(k) == foldKey(seg) {
							v = kv
						}
					}
				}
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(x) {
					return "", false, nil
				}
				v = x[i]
			default:
				return "", false, nil
			}
		}
		switch x := v.(type) {
		case nil:
			return "", false, nil
		case string:
			return x, true, nil
		case json.Number:
			return x.String(), true, nil
		case bool:
			return strconv.FormatBool(x), true, nil
		}
		return "", false, errors.New("must be a single value, not an object or array")
	}, nil
}

// decodeStrict decodes one JSON value from tokens, refusing duplicate
// object keys at any depth (two parsers taking different copies of a key
// would let the storefront act on a value the gateway did not screen), keys
// that differ only in case (encoding/json matches a struct field in any
// case, so a Go storefront would take the last of them) and nesting deeper
// than maxJSONDepth.
func decodeStrict(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			folded := map[string]string{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if prev, dup := folded[foldKey(k)]; dup {
					return nil, fmt.Errorf("duplicate key %q (as %q)", k, prev)
				}
				folded[foldKey(k)] = k
				v, err := decodeStrict(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			var a []any
			for dec.More() {
				v, err := decodeStrict(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

// foldKey folds case as encoding/json does when it matches an object key to
// a struct field (the same as bytes.EqualFold).
func foldKey(k string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, k)
}

func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// DemoInterceptRoutes returns the routes of the embedded demo storefront's
// checkout, used in zero-config mode: POST /checkout (an HTML form) and
// POST /api/checkout (JSON), both with the fields order_id, email, name,
// phone, country, region, city, postal, address, plan, amount, currency,
// card_bin and card_last4.
func DemoInterceptRoutes() []InterceptRoute {
	fields := func() map[string]string {
		return map[string]string{
			"order_id":           "order_id",
			"account.email":      "email",
			"account.name":       "name",
			"account.phone":      "phone",
			"billing.country":    "country",
			"billing.region":     "region",
			"billing.city":       "city",
			"billing.postal":     "postal",
			"billing.address":    "address",
			"items.0.sku":        "plan",
			"items.0.price":      "amount",
			"amount":             "amount",
			"currency":           "currency",
			"payment.card_bin":   "card_bin",
			"payment.card_last4": "card_last4",
		}
	}
	defaults := func() map[string]string {
		return map[string]string{
			"currency":          "USD",
			"items.0.category":  "vps",
			"items.0.quantity":  "1",
			"payment.method":    "card",
			"payment.processor": "other",
		}
	}
	return []InterceptRoute{
		{Method: "POST", Path: "/checkout", Format: FormatForm, Fields: fields(), Defaults: defaults()},
		{Method: "POST", Path: "/api/checkout", Format: FormatJSON, Fields: fields(), Defaults: defaults()},
	}
}
