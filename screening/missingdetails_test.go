package screening

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// loggedInWHMCS7 is the checkout of a client who is logged in, as WHMCS
// 7.10's standard_cart posts it (WHMCS/orderforms-standard_cart at
// 5341edff "Version 7.10.0-release.1", checkout.tpl lines 61-701): the
// details are readonly (posted, with the stored values), the country
// select is disabled="disabled" (not posted), the password fields are
// not rendered ({if !$loggedin}) and the sign-in fields are posted empty.
const loggedInWHMCS7 = "submit=true&custtype=existing&loginemail=&loginpassword=" +
	"&firstname=Ann&lastname=Lee&email=ann%40example.com&phonenumber=4155550100&companyname=" +
	"&address1=1+Main+St&address2=&city=SF&state=CA&postcode=94107" +
	"&applycredit=0&paymentmethod=banktransfer&notes=&accepttos=on"

// loggedInWHMCS9 is the checkout of a client who is logged in and picked
// one of their accounts, as WHMCS 9's standard_cart posts it
// (WHMCS/orderforms-standard_cart at 65d1085 "Version v9.0.6-release.1",
// checkout.tpl lines 53-295 and js/base.js's .account-select handler):
// account_id is the account's id, and the new-client fields, hidden with
// CSS only, are posted too, country included; WHMCS uses the account's
// stored details.
const loggedInWHMCS9 = "checkout=true&custtype=account&account_id=5" +
	"&firstname=Ann&lastname=Lee&email=&phonenumber=4155550100&companyname=" +
	"&address1=1+Main+St&address2=&city=SF&state=CA&postcode=94107&country=US" +
	"&applycredit=0&paymentmethod=banktransfer&notes=&accepttos=on"

// newClientWHMCS is a new client's checkout (the same form, nothing
// disabled).
const newClientWHMCS = "submit=true&custtype=new&firstname=Ann&lastname=Lee&email=ann%40example.com" +
	"&phonenumber=4155550100&address1=1+Main+St&city=SF&state=CA&postcode=94107&country=US" +
	"&password=Correct-Horse-1&password2=Correct-Horse-1&paymentmethod=banktransfer&accepttos=on"

// TestMissingDetails: under missing_details: defer, a checkout whose body
// has no billing country under any name PHP files as it is deferred; an
// empty or invalid country, one in the query or a cookie, or a body the
// storefront could read two ways is refused as before, and a new client's
// checkout is screened.
func TestMissingDetails(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	ip := netip.MustParseAddr("198.51.100.7")
	defer_ := whmcsRoute(t)
	if defer_.MissingDetails != MissingDetailsDefer {
		t.Fatalf("the whmcs profile's missing_details = %q, want defer", defer_.MissingDetails)
	}
	refuse := InterceptRoute{Profile: "whmcs", MissingDetails: MissingDetailsRefuse}
	refuse.SetDefaults()
	if err := refuse.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		route   InterceptRoute
		ct      string
		query   string
		cookies []string
		body    string
		want    string // deferred, refused, or the screened order's country
	}{
		{name: "logged in (WHMCS 7)", route: defer_, query: "a=checkout", body: loggedInWHMCS7, want: "deferred"},
		{name: "logged in, multipart", route: defer_, ct: "multipart/form-data; boundary=b",
			body: "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nann@example.com\r\n--b--\r\n", want: "deferred"},
		{name: "a body with nothing but the action", route: defer_, body: "a=checkout", want: "deferred"},
		{name: "logged in, an account picked (WHMCS 9)", route: defer_, query: "a=checkout", body: loggedInWHMCS9, want: "deferred"},
		{name: "logged in, a new account (account_id=new)", route: defer_, query: "a=checkout",
			body: strings.Replace(loggedInWHMCS9, "account_id=5", "account_id=new", 1), want: "deferred"},
		{name: "account_id in the query ($_REQUEST)", route: defer_, query: "a=checkout&account_id=5", body: newClientWHMCS, want: "deferred"},
		{name: "account_id under another PHP spelling", route: defer_, body: newClientWHMCS + "&account.id=5", want: "deferred"},
		{name: "account_id in the query and the body alike", route: defer_, query: "account_id=5", body: loggedInWHMCS9, want: "deferred"},
		{name: "account_id twice, two values", route: defer_, query: "account_id=6", body: loggedInWHMCS9, want: "refused"},
		{name: "account_id twice in the body", route: defer_, body: loggedInWHMCS9 + "&account_id=6", want: "refused"},
		{name: "account_id as an array", route: defer_, body: newClientWHMCS + "&account_id[]=5", want: "refused"},
		{name: "account_id, country in the query", route: defer_, query: "a=checkout&country=US", body: loggedInWHMCS9, want: "refused"},
		// js/base.js empties the email when the client switches account:
		// refused under refuse, the lockout defer ends.
		{name: "refuse: an account picked", route: refuse, body: loggedInWHMCS9, want: "refused"},
		{name: "refuse: an account picked, email kept", route: refuse,
			body: strings.Replace(loggedInWHMCS9, "email=&", "email=ann%40example.com&", 1), want: "US"},
		{name: "new client", route: defer_, query: "a=checkout", body: newClientWHMCS, want: "US"},
		{name: "new client, EU country (screened; the rules reject it)", route: defer_, query: "a=checkout",
			body: strings.Replace(newClientWHMCS, "country=US", "country=DE", 1), want: "DE"},
		{name: "country under another PHP spelling", route: defer_, body: loggedInWHMCS7 + "&+country=US", want: "US"},
		{name: "empty country", route: defer_, body: loggedInWHMCS7 + "&country=", want: "refused"},
		{name: "invalid country", route: defer_, body: loggedInWHMCS7 + "&country=XX", want: "refused"},
		{name: "country array", route: defer_, body: loggedInWHMCS7 + "&country[]=US", want: "refused"},
		{name: "country twice", route: defer_, body: loggedInWHMCS7 + "&country=US&+country=DE", want: "refused"},
		{name: "country in the query", route: defer_, query: "a=checkout&country=US", body: loggedInWHMCS7, want: "refused"},
		{name: "country in a cookie", route: defer_, cookies: []string{"country=US"}, body: loggedInWHMCS7, want: "refused"},
		{name: "another field two ways", route: defer_, body: loggedInWHMCS7 + "&email[]=x", want: "refused"},
		{name: "another field in the query", route: defer_, query: "a=checkout&email=bo%40example.com", body: loggedInWHMCS7, want: "refused"},
		{name: "JSON to a form route", route: defer_, ct: "application/json", body: `{"email":"ann@example.com"}`, want: "refused"},
		{name: "refuse: logged in", route: refuse, body: loggedInWHMCS7, want: "refused"},
		{name: "refuse: new client", route: refuse, body: newClientWHMCS, want: "US"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct := tt.ct
			if ct == "" {
				ct = form
			}
			o, err := tt.route.MapOrder(ct, tt.query, tt.cookies, []byte(tt.body), ip, "", "")
			got := o.Billing.Country
			switch {
			case errors.Is(err, ErrDeferred):
				got = "deferred"
				if !errors.Is(err, ErrInvalidInput) {
					t.Errorf("MapOrder = %v: a deferral must be invalid input too (refused by a caller that does not defer)", err)
				}
				var de *DeferredError
				if !errors.As(err, &de) || (de.Field != "country" && de.Field != "account_id=*") {
					t.Errorf("MapOrder = %#v, want a *DeferredError naming country or account_id", err)
				}
			case err != nil:
				got = "refused"
				if !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrUnsupportedMediaType) {
					t.Errorf("MapOrder = %v, want invalid input", err)
				}
			}
			if got != tt.want {
				t.Errorf("MapOrder(%q, %q) = %s (%v), want %s", tt.query, tt.body, got, err, tt.want)
			}
		})
	}
}

// TestMissingDetailsValidate: missing_details is refuse (the default) or
// defer, and defer needs a country read from the body.
func TestMissingDetailsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		route InterceptRoute
		want  string // the value after SetDefaults
		bad   bool
	}{
		{name: "default", route: demoRoute(t, "/checkout"), want: MissingDetailsRefuse},
		{name: "woocommerce profile", route: InterceptRoute{Profile: "woocommerce-classic"}, want: MissingDetailsRefuse},
		{name: "whmcs profile", route: InterceptRoute{Profile: "whmcs"}, want: MissingDetailsDefer},
		{name: "whmcs overridden", route: InterceptRoute{Profile: "whmcs", MissingDetails: "refuse"}, want: MissingDetailsRefuse},
		{name: "blesta with defer", route: InterceptRoute{Profile: "blesta", MissingDetails: "defer"}, want: MissingDetailsDefer},
		{name: "unknown", route: InterceptRoute{Profile: "whmcs", MissingDetails: "allow"}, want: "allow", bad: true},
		{name: "defer with a default country", route: InterceptRoute{Profile: "whmcs",
			Defaults: map[string]string{"billing.country": "US"}}, want: MissingDetailsDefer, bad: true},
		{name: "defer_when without defer", route: InterceptRoute{Profile: "blesta",
			DeferWhen: map[string]string{"client_id": "*"}}, want: MissingDetailsRefuse, bad: true},
		{name: "defer_when with a bad name", route: InterceptRoute{Profile: "whmcs",
			DeferWhen: map[string]string{"account_id[]": "*"}}, want: MissingDetailsDefer, bad: true},
	}
	for _, tt := range tests {
		r := tt.route
		r.SetDefaults()
		if r.MissingDetails != tt.want {
			t.Errorf("%s: missing_details = %q, want %q", tt.name, r.MissingDetails, tt.want)
		}
		err := r.Validate()
		if bad := err != nil && (strings.Contains(err.Error(), "missing_details") || strings.Contains(err.Error(), "defer_when")); bad != tt.bad || (err != nil && !bad) {
			t.Errorf("%s: Validate() = %v, want a missing_details error: %v", tt.name, err, tt.bad)
		}
	}
	lines := DescribeRoutes([]InterceptRoute{whmcsRoute(t)})
	if len(lines) == 0 || !strings.Contains(lines[0], "missing_details: defer (no billing country, or account_id=*") {
		t.Errorf("DescribeRoutes(whmcs) = %q, want missing_details: defer said", lines)
	}
}
