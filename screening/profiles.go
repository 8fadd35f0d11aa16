package screening

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Built-in storefront profiles: the checkout requests of the storefronts VPS
// sellers run, as their public source sends them, with the field map and
// transforms that turn them into an order. An intercept entry names one
// with `profile:` and may override any part (InterceptRoute.Profile).
//
// None of these checkouts carries the cart's total: amount defaults to 0
// and currency to USD (override `defaults.currency` with the shop's); the
// billing system's hook module sends the real order through the order API
// (docs/integrations/).
//
// FOSSBilling has no profile: its client checkout (the client API's
// cart/checkout) carries no customer details, which come from the session,
// so there is nothing to screen at the edge; the integration is the order
// API called from FOSSBilling's event hook (docs/integrations/).
//
// Where a checkout form carries no customer details at all (a WHMCS or
// Blesta client who is logged in), the route refuses it (400, a required
// field missing), unless it says missing_details: defer (the whmcs
// profile does): then a body with no billing country, or with a
// defer_when parameter, is forwarded unscreened, marked
// "X-Screening-Decision: deferred", and the billing
// system's hook module screens the order WHMCS places with the client's
// stored details (safe only with that module installed: it holds
// activation until the gateway has cleared that order).

// ProfileNames returns the names of the built-in profiles.
func ProfileNames() []string { return slices.Sorted(maps.Keys(profiles())) }

// profiles returns a fresh copy of every profile (callers may modify it).
func profiles() map[string]InterceptRoute {
	return map[string]InterceptRoute{
		"woocommerce-classic": wooClassic(),
		"woocommerce-blocks":  wooBlocks(),
		"whmcs":               whmcs(),
		"blesta":              blesta(),
	}
}

// noTotal are the defaults of a checkout that carries no total.
func noTotal() map[string]string {
	return map[string]string{"amount": "0", "currency": "USD"}
}

// wooClassic is WooCommerce's classic (shortcode) checkout, WooCommerce 9
// (woocommerce/woocommerce, plugins/woocommerce):
//   - includes/class-wc-ajax.php, WC_AJAX::do_wc_ajax: the form is posted
//     by checkout.js to "?wc-ajax=checkout" on any front-end URL, read from
//     $_GET['wc-ajax'] through sanitize_text_field(wp_unslash(...));
//     add_ajax_events also hooks "wp_ajax_nopriv_woocommerce_checkout", so
//     /wp-admin/admin-ajax.php with action=woocommerce_checkout ($_REQUEST)
//     is the same checkout;
//   - includes/class-wc-form-handler.php, WC_Form_Handler::checkout_action
//     (on wp_loaded, any URL): without JavaScript the form posts itself
//     with the submit button woocommerce_checkout_place_order, and any POST
//     carrying it (isset, any value) is processed as a checkout;
//   - includes/class-wc-countries.php, get_default_address_fields, and
//     includes/class-wc-checkout.php, get_checkout_fields: the fields are
//     the address fields prefixed "billing_" (billing_first_name,
//     billing_last_name, billing_country, billing_address_1, billing_city,
//     billing_state, billing_postcode, billing_phone, billing_email) and
//     payment_method (templates/checkout/payment-method.php).
func wooClassic() InterceptRoute {
	return InterceptRoute{
		Format: FormatForm,
		Fields: map[string]string{
			"account.email":      "billing_email",
			"account.phone":      "billing_phone",
			"billing.first_name": "billing_first_name",
			"billing.last_name":  "billing_last_name",
			"billing.country":    "billing_country",
			"billing.region":     "billing_state",
			"billing.city":       "billing_city",
			"billing.postal":     "billing_postcode",
			"billing.address":    "billing_address_1",
			"payment.processor":  "payment_method",
		},
		Defaults:   noTotal(),
		Transforms: Transforms{JoinName: true, GenerateOrderID: true},
		matchers: []Matcher{
			{Paths: []string{"/"}, MatchQuery: map[string]string{"wc-ajax": "checkout"}},
			{Paths: []string{"/wp-admin/admin-ajax.php"}, MatchQuery: map[string]string{"action": "woocommerce_checkout"}, MatchBody: true},
			{Paths: []string{"/"}, MatchQuery: map[string]string{"woocommerce_checkout_place_order": AnyValue}, MatchBody: true},
		},
	}
}

// wooBlocks is WooCommerce's block checkout, the Store API (WooCommerce 9,
// plugins/woocommerce/src/StoreApi):
//   - RoutesController.php, register_all_routes: every route is registered
//     under both "wc/store" and "wc/store/v1"; Routes/V1/Checkout.php is
//     "/checkout" (POST), Routes/V1/CheckoutOrder.php "/checkout/{id}"
//     (paying an existing order, also with billing_address), both covered
//     as paths below "/checkout";
//   - WordPress serves them at /wp-json/<route>, at /index.php/wp-json/ with
//     "almost pretty" permalinks, and at ?rest_route=<route> on any URL,
//     where rest_route is a query var WP::parse_request takes from $_POST
//     before $_GET (wp-includes/class-wp.php) and rest_api_loaded
//     untrailingslashits (wp-includes/rest-api.php); routes match case-
//     insensitively (WP_REST_Server::match_request_to_handler);
//   - Routes/V1/Batch.php: "/batch" dispatches sub-requests to any
//     wc/store route that allows batching, and Checkout does
//     ("allow_batch" => ["v1" => true]): a batch naming the checkout is
//     refused, other batches (the cart block's) pass;
//   - Schemas/V1/CheckoutSchema.php and BillingAddressSchema.php: the JSON
//     body's billing_address {first_name, last_name, address_1, city,
//     state, postcode, country, email, phone} and payment_method.
func wooBlocks() InterceptRoute {
	var ms []Matcher
	checkout := []string{"/wc/store/v1/checkout", "/wc/store/checkout"}
	batch := []string{"/wc/store/v1/batch", "/wc/store/batch"}
	for _, set := range []struct {
		routes []string
		batch  []string
	}{{checkout, nil}, {batch, checkout}} {
		var paths []string
		for _, r := range set.routes {
			paths = append(paths, "/wp-json"+r, "/index.php/wp-json"+r)
		}
		ms = append(ms, Matcher{Paths: paths, Batch: set.batch})
		for _, r := range set.routes {
			ms = append(ms, Matcher{Paths: []string{"/"}, MatchQuery: map[string]string{"rest_route": r}, MatchBody: true, Batch: set.batch})
		}
	}
	return InterceptRoute{
		Format: FormatJSON,
		Fields: map[string]string{
			"account.email":      "billing_address.email",
			"account.phone":      "billing_address.phone",
			"billing.first_name": "billing_address.first_name",
			"billing.last_name":  "billing_address.last_name",
			"billing.country":    "billing_address.country",
			"billing.region":     "billing_address.state",
			"billing.city":       "billing_address.city",
			"billing.postal":     "billing_address.postcode",
			"billing.address":    "billing_address.address_1",
			"payment.processor":  "payment_method",
		},
		Defaults:   noTotal(),
		Transforms: Transforms{JoinName: true, GenerateOrderID: true},
		matchers:   ms,
	}
}

// whmcs is WHMCS's checkout, POST /cart.php?a=checkout (WHMCS 8, the
// standard_cart order form: WHMCS/orderforms-standard_cart, checkout.tpl:
// form action "{$smarty.server.PHP_SELF}?a=checkout", fields firstname,
// lastname, email, phonenumber, address1, city, state, postcode, country,
// paymentmethod, and for card gateways ccnumber, ccexpirydate, cccvv).
// WHMCS reads "a" from $_REQUEST, so a body's "a" counts (and wins).
//
// A client who is logged in orders on the details WHMCS has stored, not on
// what the form posts: the standard_cart of WHMCS 7 (checkout.tpl at
// 7.10.0) renders their country select disabled="disabled", so the browser
// posts no country at all; from 8.0 (checkout.tpl at v9.0.6) they pick an
// account (account_id: its id, or "new") and the hidden new-client fields,
// country included, are posted but not used for an existing account. The
// profile defers both (missing_details: defer, defer_when: account_id) to
// the module, which screens the order WHMCS creates with the stored
// details (docs/integrations/whmcs.md).
func whmcs() InterceptRoute {
	return InterceptRoute{
		Format: FormatForm,
		Fields: map[string]string{
			"account.email":      "email",
			"account.phone":      "phonenumber",
			"billing.first_name": "firstname",
			"billing.last_name":  "lastname",
			"billing.country":    "country",
			"billing.region":     "state",
			"billing.city":       "city",
			"billing.postal":     "postcode",
			"billing.address":    "address1",
			"payment.processor":  "paymentmethod",
		},
		Defaults:       noTotal(),
		Transforms:     Transforms{JoinName: true, GenerateOrderID: true, CardNumber: "ccnumber", CardBINDigits: 6},
		MissingDetails: MissingDetailsDefer,
		DeferWhen:      map[string]string{"account_id": AnyValue},
		matchers: []Matcher{
			{Paths: []string{"/cart.php"}, MatchQuery: map[string]string{"a": "checkout"}, MatchBody: true},
		},
	}
}

// blesta is Blesta's order form sign-up, where the customer's details are
// posted (Blesta 3 and later, plugins/order/controllers/signup.php,
// Signup::index: $this->post becomes the new client, with first_name,
// last_name, email, address1, city, state, zip, country and the phone as
// numbers[0][number]), at /order/signup/index/<form> under Blesta's base
// URI (also behind /index.php/ without URL rewriting; set paths when
// Blesta is installed in a sub-directory).
func blesta() InterceptRoute {
	return InterceptRoute{
		Format: FormatForm,
		Fields: map[string]string{
			"account.email":      "email",
			"account.phone":      "numbers[0][number]",
			"billing.first_name": "first_name",
			"billing.last_name":  "last_name",
			"billing.country":    "country",
			"billing.region":     "state",
			"billing.city":       "city",
			"billing.postal":     "zip",
			"billing.address":    "address1",
		},
		Defaults:   noTotal(),
		Transforms: Transforms{JoinName: true, GenerateOrderID: true},
		matchers: []Matcher{
			{Paths: []string{"/order/signup", "/index.php/order/signup"}},
		},
	}
}

// applyProfile fills r from profile p: what r sets itself wins.
func (r *InterceptRoute) applyProfile(p InterceptRoute) {
	if r.Format == "" {
		r.Format = p.Format
	}
	if r.MissingDetails == "" {
		r.MissingDetails = p.MissingDetails
	}
	if r.DeferWhen == nil && r.MissingDetails == p.MissingDetails {
		r.DeferWhen = p.DeferWhen
	}
	fields := p.Fields
	maps.Copy(fields, r.Fields)
	r.Fields = fields
	defaults := p.Defaults
	maps.Copy(defaults, r.Defaults)
	r.Defaults = defaults
	t, o := p.Transforms, r.Transforms
	t.JoinName = t.JoinName || o.JoinName
	t.GenerateOrderID = t.GenerateOrderID || o.GenerateOrderID
	if o.CardNumber != "" {
		t.CardNumber = o.CardNumber
	}
	if o.CardBINDigits != 0 {
		t.CardBINDigits = o.CardBINDigits
	}
	if t.JoinName && r.Fields["account.name"] != "" {
		t.JoinName = false
	}
	r.Transforms = t
	if r.Path == "" && len(r.Paths) == 0 && len(r.MatchQuery) == 0 {
		r.matchers = p.matchers
	}
}

// DescribeQuery writes match_query parameters in a stable order
// ("a=checkout&b=*").
func DescribeQuery(q map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		parts = append(parts, k+"="+q[k])
	}
	return strings.Join(parts, "&")
}

// DescribeRoutes says what each route screens, one line per path and
// query: what `gateway check-config` prints, and the start-up banner.
func DescribeRoutes(routes []InterceptRoute) []string {
	var out []string
	for i, r := range routes {
		name := fmt.Sprintf("intercept[%d]", i)
		if r.Profile != "" {
			name += " (" + r.Profile + ")"
		}
		for _, m := range r.Matchers() {
			q := DescribeQuery(m.MatchQuery)
			where := "in the query"
			if m.MatchBody {
				where = "in the query or a form body"
			}
			for _, p := range m.Paths {
				line := p + " and below"
				if q != "" {
					line = p + "?" + q + " and below (" + where + ")"
				}
				if len(m.Batch) > 0 {
					line += ": a batch, refused when a sub-request goes to " + strings.Join(m.Batch, " or ")
				} else {
					line += ", every method but GET, HEAD, OPTIONS"
				}
				line += " [" + name + "]"
				if r.MissingDetails == MissingDetailsDefer {
					why := "no billing country"
					if len(r.DeferWhen) > 0 {
						why += ", or " + DescribeQuery(r.DeferWhen)
					}
					line += "; missing_details: defer (" + why + ": forwarded unscreened, deferred to the billing system's module)"
				}
				out = append(out, line)
			}
		}
	}
	return out
}
