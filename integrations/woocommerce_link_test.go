package integrations_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestWooCommercePluginLink runs the WooCommerce plugin behind a gateway
// configured with `profile: woocommerce-classic` in front of a stand-in
// shop: the classic checkout the gateway screened is linked to
// WooCommerce's order id through the real link route (by default: the
// order is made of the billing fields the gateway screened), the paid
// order stays on hold until the customer verified the address and then
// goes to processing; with "Screen every order again" the plugin screens
// the order itself.
func TestWooCommercePluginLink(t *testing.T) {
	b, shop, g := behindGateway(t, "woocommerce-classic")
	const script = "woocommerce/tests/woocommerce_test.php"
	// The classic checkout's fields (WooCommerce's checkout.js posts the
	// checkout form: includes/class-wc-checkout.php, get_checkout_fields).
	form := func(email string) url.Values {
		return url.Values{"billing_first_name": {"Ann"}, "billing_last_name": {"Lee"}, "billing_country": {"US"},
			"billing_address_1": {"1 Main St"}, "billing_city": {"San Francisco"}, "billing_state": {"CA"},
			"billing_postcode": {"94107"}, "billing_phone": {"4155550100"}, "billing_email": {email},
			"payment_method": {"stripe"}, "terms": {"on"}, "woocommerce-process-checkout-nonce": {"0123456789"}}
	}

	jo := uniqueEmail("jo")
	h := shop.checkout(t, g, "/?wc-ajax=checkout", form(jo))
	sid := h.Get("X-Screening-Id")
	if !strings.HasPrefix(sid, "scr_") {
		t.Fatalf("the checkout reached the shop with %v, want screened", h)
	}
	linked := with(baseCase(g)("201", jo, "US"), "SCREENING_ID", sid, "EXPECT_SCREENING", sid)
	runPHP(t, script, with(linked, "STEP", "classic", "SETTINGS", "option", "EXPECT_FINAL", "on-hold", "EXPECT_PROVISIONED", "no",
		"EXPECT_NOTE", "order 201 is held (waiting for email_verification)", "EXPECT_STATUS", "held"))
	verifyEmail(t, b, g, jo)
	runPHP(t, script, with(linked, "STEP", "poll", "EXPECT_FINAL", "processing", "EXPECT_PROVISIONED", "yes",
		"EXPECT_NOTE", "order 201 cleared", "EXPECT_STATUS", "cleared"))

	ken := uniqueEmail("ken")
	h = shop.checkout(t, g, "/?wc-ajax=checkout", form(ken))
	sid2 := h.Get("X-Screening-Id")
	runPHP(t, script, with(baseCase(g)("202", ken, "US"), "STEP", "classic", "SETTINGS", "option", "RESUBMIT", "on",
		"SCREENING_ID", sid2, "EXPECT_FINAL", "on-hold", "EXPECT_PROVISIONED", "no",
		"EXPECT_STATUS", "held", "EXPECT_SCREENING", "!"+sid2))
}
