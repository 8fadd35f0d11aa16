package main

import (
	"context"
	"strings"
	"testing"
)

// TestCheckConfigPrintsProfileRoutes: `gateway check-config` prints the
// routes a profile expands to, and refuses an unknown profile naming it.
func TestCheckConfigPrintsProfileRoutes(t *testing.T) {
	var out, errb strings.Builder
	env := map[string]string{"GATEWAY_INTERCEPT": `[{"profile": "woocommerce-blocks"}, {"profile": "whmcs", "defaults": {"currency": "EUR"}}]`}
	if code := run(context.Background(), []string{"check-config"}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("check-config = %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"screened checkout: /wp-json/wc/store/v1/checkout and below",
		"screened checkout: /?rest_route=/wc/store/v1/checkout and below (in the query or a form body)",
		"/wp-json/wc/store/v1/batch and below: a batch, refused when a sub-request goes to /wc/store/v1/checkout or /wc/store/checkout",
		"screened checkout: /cart.php?a=checkout and below (in the query or a form body), every method but GET, HEAD, OPTIONS [intercept[1] (whmcs)]; missing_details: defer",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "rest_route=/wc/store/v1/checkout and below (in the query or a form body), every method but GET, HEAD, OPTIONS [intercept[0] (woocommerce-blocks)]; missing_details") {
		t.Errorf("check-config says woocommerce-blocks defers:\n%s", out.String())
	}
	// The operator's override wins over the profile's defer.
	out.Reset()
	errb.Reset()
	env = map[string]string{"GATEWAY_INTERCEPT": `[{"profile": "whmcs", "missing_details": "refuse"}]`}
	if code := run(context.Background(), []string{"check-config"}, strings.NewReader(""), &out, &errb, env); code != 0 || strings.Contains(out.String(), "missing_details") {
		t.Errorf("whmcs with missing_details: refuse: exit %d, %s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	env = map[string]string{"GATEWAY_INTERCEPT": `[{"profile": "whmcs", "missing_details": "maybe"}]`}
	if code := run(context.Background(), []string{"check-config"}, strings.NewReader(""), &out, &errb, env); code != 2 || !strings.Contains(errb.String(), "intercept[0].missing_details") {
		t.Errorf("missing_details: maybe: exit %d, %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	env = map[string]string{"GATEWAY_INTERCEPT": `[{"profile": "fossbilling"}]`}
	if code := run(context.Background(), []string{"check-config"}, strings.NewReader(""), &out, &errb, env); code != 2 || !strings.Contains(errb.String(), "intercept[0].profile") {
		t.Errorf("unknown profile: exit %d, %s", code, errb.String())
	}
}
