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
		"screened checkout: /cart.php?a=checkout and below (in the query or a form body), every method but GET, HEAD, OPTIONS [intercept[1] (whmcs)]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	env = map[string]string{"GATEWAY_INTERCEPT": `[{"profile": "fossbilling"}]`}
	if code := run(context.Background(), []string{"check-config"}, strings.NewReader(""), &out, &errb, env); code != 2 || !strings.Contains(errb.String(), "intercept[0].profile") {
		t.Errorf("unknown profile: exit %d, %s", code, errb.String())
	}
}
