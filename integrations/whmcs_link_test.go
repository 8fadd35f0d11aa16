package integrations_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recordingShop stands in for the storefront behind the gateway: it
// records the screening headers each request arrives with.
type recordingShop struct {
	mu   sync.Mutex
	seen []http.Header
}

func (s *recordingShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h := http.Header{}
	for k, v := range r.Header {
		if strings.HasPrefix(k, "X-Screening-") {
			h[k] = v
		}
	}
	s.mu.Lock()
	s.seen = append(s.seen, h)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// behindGateway starts a gateway configured with nothing but an intercept
// profile, in front of a recordingShop.
func behindGateway(t *testing.T, profile string) (*backend, *recordingShop, *gatewayProc) {
	t.Helper()
	b := newBackend(t)
	shop := &recordingShop{}
	up := httptest.NewServer(shop)
	t.Cleanup(up.Close)
	b.env["GATEWAY_UPSTREAM"] = up.URL
	b.env["GATEWAY_INTERCEPT"] = `[{"profile": "` + profile + `"}]`
	return b, shop, b.start(t, buildGateway(t))
}

// checkout posts a checkout form through the gateway to target and
// returns the screening headers the storefront got with it.
func (s *recordingShop) checkout(t *testing.T, g *gatewayProc, target string, form url.Values) http.Header {
	t.Helper()
	s.mu.Lock()
	n := len(s.seen)
	s.mu.Unlock()
	resp, err := http.PostForm(g.public+target, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if resp.StatusCode != 200 || len(s.seen) != n+1 {
		t.Fatalf("checkout = %d %s; the storefront got %d requests, want %d", resp.StatusCode, b, len(s.seen)-n, 1)
	}
	return s.seen[n]
}

// whmcsForm is a checkout as standard_cart posts it (checkout.tpl of
// WHMCS/orderforms-standard_cart): a new client's details, or with no
// country a logged-in client's on WHMCS 7.10 (the country select
// disabled="disabled").
func whmcsForm(email, country string) url.Values {
	v := url.Values{"submit": {"true"}, "custtype": {"new"}, "firstname": {"Dee"}, "lastname": {"Lee"}, "email": {email},
		"phonenumber": {"4155550100"}, "address1": {"1 Main St"}, "city": {"San Francisco"}, "state": {"CA"},
		"postcode": {"94107"}, "paymentmethod": {"banktransfer"}, "accepttos": {"on"}}
	if country != "" {
		v.Set("country", country)
		v.Set("password", "Correct-Horse-1")
		v.Set("password2", "Correct-Horse-1")
	} else {
		v.Set("custtype", "existing")
	}
	return v
}

// TestWHMCSModuleLink runs the WHMCS addon behind a gateway configured
// with `profile: whmcs` in front of a stand-in WHMCS: a checkout the
// gateway screened is linked to WHMCS's order id through the real link
// route (PreModuleCreate refuses while it is held, lets it through once
// the customer verified the address); a checkout the gateway deferred (a
// logged-in client, no country posted) is screened by the module with the
// client's stored details through the order API; an order placed on an
// existing account's stored details is screened by the module too, not
// linked to the screening of what the form posted; the gateway down means
// no activation.
func TestWHMCSModuleLink(t *testing.T) {
	b, shop, g := behindGateway(t, "whmcs")
	const script = "whmcs/tests/whmcs_test.php"
	db := filepath.Join(t.TempDir(), "whmcs.json")
	// Each order from its own address, so that the velocity rules see
	// one customer per order.
	base := func(order, email, country string) phpCase {
		return with(baseCase(g)(order, email, country), "WHMCS_DB", db, "IP", "192.0.2."+order)
	}

	// A new client: screened at the edge, linked by the module.
	dee := uniqueEmail("dee")
	h := shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(dee, "US"))
	sid := h.Get("X-Screening-Id")
	if !strings.HasPrefix(sid, "scr_") || h.Get("X-Screening-Decision") == "deferred" {
		t.Fatalf("the new client's checkout reached WHMCS with %v, want screened", h)
	}
	linked := with(base("21", dee, "US"), "SCREENING_ID", sid, "EXPECT_SCREENING", sid)
	runPHP(t, script, with(linked, "STEP", "checkout", "EXPECT_ABORT", "yes", "EXPECT_REMEMBERED", "yes",
		"EXPECT_LOG", "order 21 is held (waiting for email_verification)", "EXPECT_STATUS", "held"))
	// The link is made once: the same checkout hook again answers the same.
	runPHP(t, script, with(linked, "STEP", "checkout", "EXPECT_ABORT", "yes", "EXPECT_LOG", "order 21 is held", "EXPECT_STATUS", "held"))
	verifyEmail(t, b, g, dee)
	runPHP(t, script, with(linked, "STEP", "cron", "EXPECT_CREATED", "yes", "EXPECT_REMEMBERED", "no",
		"EXPECT_LOG", "order 21 cleared: ModuleCreate for service 210 done", "EXPECT_STATUS", "cleared"))

	// A logged-in client (no country posted): deferred at the edge, the
	// module screens WHMCS's order with the stored details.
	eve := uniqueEmail("eve")
	h = shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(eve, ""))
	if h.Get("X-Screening-Decision") != "deferred" || h.Get("X-Screening-Id") != "" {
		t.Fatalf("the logged-in client's checkout reached WHMCS with %v, want deferred", h)
	}
	runPHP(t, script, with(base("22", eve, "US"), "STEP", "checkout", "EXPECT_ABORT", "yes",
		"EXPECT_LOG", "order 22 is held", "EXPECT_STATUS", "held", "EXPECT_SCREENING", "!"+sid))
	// ... and stored in an EU country: rejected, never activated.
	fay := uniqueEmail("fay")
	shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(fay, ""))
	runPHP(t, script, with(base("23", fay, "FR"), "STEP", "checkout", "EXPECT_ABORT", "yes", "EXPECT_REMEMBERED", "no",
		"EXPECT_LOG", "order 23 is rejected", "EXPECT_STATUS", "rejected"))

	// WHMCS 8 and later: a logged-in client picks a stored account
	// (account_id) and the hidden details form still posts a country: the
	// gateway defers it (defer_when: account_id) ...
	acct := whmcsForm(uniqueEmail("gus"), "US")
	acct.Set("account_id", "7")
	if h := shop.checkout(t, g, "/cart.php?a=checkout", acct); h.Get("X-Screening-Decision") != "deferred" || h.Get("X-Screening-Id") != "" {
		t.Fatalf("the checkout on a stored account reached WHMCS with %v, want deferred", h)
	}
	// ... and were it screened (an operator's defer_when: {}), the module
	// would still not link it: the edge screened what the form posted
	// (US), WHMCS places the order on the account's stored details (DE),
	// so the module screens those.
	gus := uniqueEmail("gus")
	h = shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(gus, "US"))
	sid2 := h.Get("X-Screening-Id")
	runPHP(t, script, with(base("24", gus, "DE"), "STEP", "checkout", "SCREENING_ID", sid2, "ACCOUNT_ID", "7",
		"EXPECT_ABORT", "yes", "EXPECT_LOG", "order 24 is rejected", "EXPECT_STATUS", "rejected", "EXPECT_SCREENING", "!"+sid2))
	// "Screen every order again" ticked: the module screens the order
	// itself, even with a screening to link.
	hal := uniqueEmail("hal")
	h = shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(hal, "US"))
	sid3 := h.Get("X-Screening-Id")
	runPHP(t, script, with(base("25", hal, "US"), "STEP", "checkout", "SCREENING_ID", sid3, "RESUBMIT", "on",
		"EXPECT_ABORT", "yes", "EXPECT_STATUS", "held", "EXPECT_SCREENING", "!"+sid3))

	// The gateway down at checkout: nothing linked, no activation; once
	// it is back, the activation screens the order itself (nothing lost).
	ivy := uniqueEmail("ivy")
	h = shop.checkout(t, g, "/cart.php?a=checkout", whmcsForm(ivy, "US"))
	sid4 := h.Get("X-Screening-Id")
	runPHP(t, script, with(base("26", ivy, "US"), "STEP", "checkout", "SCREENING_ID", sid4, "VPSGATE_URL", deadURL(t),
		"EXPECT_ABORT", "yes", "EXPECT_LOG", "could not ask the gateway"))
	runPHP(t, script, with(base("26", ivy, "US"), "STEP", "activate", "EXPECT_ABORT", "yes",
		"EXPECT_LOG", "order 26 is held", "EXPECT_STATUS", "held"))
	g.stop()
	runPHP(t, script, with(linked, "STEP", "activate", "EXPECT_ABORT", "yes", "EXPECT_LOG", "no answer from the gateway"))
}
