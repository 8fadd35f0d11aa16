package screening

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestMatcherMatch(t *testing.T) {
	t.Parallel()
	wcAjax := Matcher{Paths: []string{"/"}, MatchQuery: map[string]string{"wc-ajax": "checkout"}}
	restRoute := Matcher{Paths: []string{"/"}, MatchQuery: map[string]string{"rest_route": "/wc/store/v1/checkout"}, MatchBody: true}
	whmcsA := Matcher{Paths: []string{"/cart.php"}, MatchQuery: map[string]string{"a": "checkout"}, MatchBody: true}
	placeOrder := Matcher{Paths: []string{"/"}, MatchQuery: map[string]string{"woocommerce_checkout_place_order": AnyValue}, MatchBody: true}
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name  string
		m     Matcher
		query string
		ct    string
		body  string
		want  bool
		err   bool
	}{
		{"wc-ajax checkout", wcAjax, "wc-ajax=checkout", "", "", true, false},
		{"wc-ajax other action", wcAjax, "wc-ajax=update_order_review", "", "", false, false},
		{"wc-ajax add to cart", wcAjax, "wc-ajax=add_to_cart", form, "product_id=12", false, false},
		{"no query", wcAjax, "", "", "", false, false},
		{"wc-ajax upper case", wcAjax, "wc-ajax=CHECKOUT", "", "", true, false},
		{"wc-ajax with spaces and a line break (sanitize_text_field trims)", wcAjax, "wc-ajax=+checkout%0A", "", "", true, false},
		{"wc-ajax with a tag (strip_all_tags)", wcAjax, "wc-ajax=check%3Cb%3Eout", "", "", true, false},
		{"wc-ajax with a percent octet (removed by sanitize_text_field)", wcAjax, "wc-ajax=check%2541out", "", "", true, false},
		{"wc-ajax double encoded", wcAjax, "wc-ajax=%2563heckout", "", "", true, false},
		{"wc-ajax with a backslash", wcAjax, "wc-ajax=check%5Cout", "", "", true, false},
		{"wc-ajax key with a leading space (PHP drops it)", wcAjax, "+wc-ajax=checkout", "", "", true, false},
		{"wc-ajax key cut at NUL", wcAjax, "wc-ajax%00x=checkout", "", "", true, false},
		{"wc-ajax encoded key", wcAjax, "%77c-ajax=checkout", "", "", true, false},
		{"wc-ajax twice, last not checkout", wcAjax, "wc-ajax=checkout&wc-ajax=x", "", "", false, true},
		{"wc-ajax twice, same", wcAjax, "wc-ajax=checkout&wc-ajax=checkout", "", "", false, true},
		{"wc-ajax as an array", wcAjax, "wc-ajax[]=checkout", "", "", false, true},
		{"wc-ajax after a semicolon", wcAjax, "x=1;wc-ajax=checkout", "", "", true, false},
		{"wc-ajax only in the body (read from $_GET)", wcAjax, "", form, "wc-ajax=checkout", false, false},
		{"wc.ajax is another name", wcAjax, "wc.ajax=checkout", "", "", false, false},
		{"rest_route checkout", restRoute, "rest_route=/wc/store/v1/checkout", "", "", true, false},
		{"rest_route trailing slashes", restRoute, "rest_route=/wc/store/v1/checkout//", "", "", true, false},
		{"rest_route case", restRoute, "rest_route=/WC/Store/V1/Checkout", "", "", true, false},
		{"rest_route order payment below", restRoute, "rest_route=/wc/store/v1/checkout/123", "", "", true, false},
		{"rest_route double slash", restRoute, "rest_route=//wc/store/v1//checkout", "", "", true, false},
		{"rest_route dot mangled name", restRoute, "rest.route=/wc/store/v1/checkout", "", "", true, false},
		{"rest_route cart", restRoute, "rest_route=/wc/store/v1/cart/add-item", "", "", false, false},
		{"rest_route checkouts is another route", restRoute, "rest_route=/wc/store/v1/checkouts", "", "", false, false},
		{"rest_route in the POST body (WP::parse_request)", restRoute, "", form, "rest_route=%2Fwc%2Fstore%2Fv1%2Fcheckout&x=1", true, false},
		{"rest_route in the query and the body, different", restRoute, "rest_route=/wc/store/v1/cart", form, "rest_route=/wc/store/v1/checkout", false, true},
		{"rest_route in the query and the body, same", restRoute, "rest_route=/wc/store/v1/checkout", form, "rest_route=/wc/store/v1/checkout", true, false},
		{"rest_route in a JSON body is not read", restRoute, "", "application/json", `{"rest_route":"/wc/store/v1/checkout"}`, false, false},
		{"whmcs a in the body wins", whmcsA, "a=view", form, "a=checkout", false, true},
		{"whmcs a only in the body", whmcsA, "", form, "a=checkout&firstname=Ann", true, false},
		{"whmcs a in a multipart body", whmcsA, "", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ncheckout\r\n--X--\r\n", true, false},
		{"whmcs other action", whmcsA, "a=add&pid=1", form, "x=1", false, false},
		{"whmcs confproduct", whmcsA, "a=confproduct&i=0", form, "billingcycle=monthly", false, false},
		{"whmcs ambiguous body refused", whmcsA, "", form, "a=checkout;x", false, true},
		{"place order present, empty", placeOrder, "", form, "woocommerce_checkout_place_order=&billing_email=a%40b.c", true, false},
		{"place order absent", placeOrder, "", form, "comment=hello", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.m.Match(tt.query, tt.ct, []byte(tt.body))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("Match(%q, %q, %q) = %v, %v; want %v, error %v", tt.query, tt.ct, tt.body, got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
		})
	}
}

// phpGet is a model of PHP's $_GET for one parameter name, independent of
// match.go: split at '&', urldecode key and value, mangle the key's '.' and
// ' ' and drop its leading spaces and what follows a NUL, last copy wins; an
// array value counts as "not a string".
func phpGet(rawQuery, name string) (string, bool) {
	val, ok := "", false
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		k, _ = url.QueryUnescape(strings.ReplaceAll(k, "%", "%25")) // '+' to ' ' only
		if dk, err := url.QueryUnescape(strings.SplitN(pair, "=", 2)[0]); err == nil {
			k = dk
		}
		if i := strings.IndexByte(k, 0); i >= 0 {
			k = k[:i]
		}
		k = strings.TrimLeft(k, " ")
		if strings.ContainsRune(k, '[') {
			continue
		}
		k = strings.NewReplacer(".", "_", " ", "_").Replace(k)
		if k != name {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		val, ok = dv, true
	}
	return val, ok
}

// wpSanitize models sanitize_text_field for ASCII input: strip tags, fold
// line breaks and tabs to spaces, trim, remove "%XX" octets.
func wpSanitize(s string) string {
	for {
		i := strings.IndexByte(s, '<')
		j := strings.IndexByte(s, '>')
		if i < 0 || j < i {
			break
		}
		s = s[:i] + s[j+1:]
	}
	s = strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)
	s = strings.TrimSpace(s)
	for {
		t := s
		for i := 0; i+2 < len(t); i++ {
			if t[i] == '%' && isHex(t[i+1]) && isHex(t[i+2]) {
				t = t[:i] + t[i+3:]
				break
			}
		}
		if t == s {
			return strings.TrimSpace(s)
		}
		s = t
	}
}

// FuzzMatchQuery: whenever WooCommerce (the model above) would run the
// checkout action for a query, the matcher matches it or refuses it;
// never does it pass such a request on as "not a checkout".
func FuzzMatchQuery(f *testing.F) {
	for _, s := range []string{"wc-ajax=checkout", "wc-ajax=check%3Cb%3Eout", "+wc-ajax=%20checkout", "wc-ajax=x&wc-ajax=checkout",
		"wc.ajax=checkout", "wc-ajax[]=checkout", "a=1;wc-ajax=checkout", "wc-ajax=check%2541out", "wc-ajax=%00checkout", ""} {
		f.Add(s)
	}
	m := Matcher{Paths: []string{"/"}, MatchQuery: map[string]string{"wc-ajax": "checkout"}}
	f.Fuzz(func(t *testing.T, q string) {
		ok, err := m.Match(q, "", nil)
		v, present := phpGet(q, "wc-ajax")
		if present && wpSanitize(v) == "checkout" && !ok && err == nil {
			t.Fatalf("query %q: WooCommerce runs the checkout, the matcher passes it on", q)
		}
	})
}

func TestCheckBatch(t *testing.T) {
	t.Parallel()
	m := Matcher{Batch: []string{"/wc/store/v1/checkout", "/wc/store/checkout"}}
	tests := []struct {
		name, ct, body string
		ok             bool
	}{
		{"cart items", "application/json", `{"requests":[{"method":"POST","path":"/wc/store/v1/cart/add-item","body":{"id":12,"quantity":1}}]}`, true},
		{"checkout", "application/json", `{"requests":[{"path":"/wc/store/v1/cart/update-customer"},{"path":"/wc/store/v1/checkout","body":{}}]}`, false},
		{"unversioned checkout", "application/json", `{"requests":[{"path":"/wc/store/checkout"}]}`, false},
		{"checkout in case and with a query", "application/json", `{"requests":[{"path":"/WC/store/v1/Checkout/?x=1"}]}`, false},
		{"checkout percent-encoded", "application/json", `{"requests":[{"path":"/wc/store/v1/%63heckout"}]}`, false},
		{"checkout with an escaped slash", "application/json", `{"requests":[{"path":"\/wc\/store\/v1\/checkout"}]}`, false},
		{"key in another case", "application/json", `{"Requests":[{"PATH":"/wc/store/v1/checkout"}]}`, false},
		{"duplicate key", "application/json", `{"requests":[],"requests":[{"path":"/wc/store/v1/checkout"}]}`, false},
		{"form body", "application/x-www-form-urlencoded", `requests[0][path]=/wc/store/v1/checkout`, false},
		{"no requests", "application/json", `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := m.CheckBatch(tt.ct, []byte(tt.body)); (err == nil) != tt.ok {
				t.Fatalf("CheckBatch(%s) = %v, want ok %v", tt.body, err, tt.ok)
			}
		})
	}
}
