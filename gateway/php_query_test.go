package gateway

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening"
)

// TestPHPQueryRouteOracle sends the corpus of query-matched checkouts
// (testdata/checkouts-query) through a gateway with the whmcs,
// woocommerce-classic and woocommerce-blocks profiles in front of a real
// PHP, whose router computes how each storefront reads its checkout
// parameter (WHMCS's $_REQUEST['a'], WordPress's rest_route query var,
// WooCommerce's sanitized $_GET['wc-ajax']). The property: whenever PHP
// received a request its storefront would take for the checkout, the
// request arrived screened; otherwise the gateway refused it (4xx). Each
// case's "want" line keeps a gateway that refuses everything from passing.
func TestPHPQueryRouteOracle(t *testing.T) {
	php := testenv.StartPHPServer(t, "testdata/php/router.php", phpINI)
	var routes []screening.InterceptRoute
	for _, p := range []string{"whmcs", "woocommerce-classic", "woocommerce-blocks"} {
		r := screening.InterceptRoute{Profile: p}
		r.SetDefaults()
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		routes = append(routes, r)
	}
	rec := &recordingOrders{}
	public, _ := startGateway(t, Config{}, Deps{
		Upstream:  mustURL(t, php.URL),
		Intercept: NewInterceptor(routes, rec, slog.New(slog.DiscardHandler)),
	})
	addr := strings.TrimPrefix(public, "http://")
	log := &seenLog{path: filepath.Join(php.Dir, "seen.jsonl")}
	for _, c := range loadCheckoutCases(t, "testdata/checkouts-query") {
		t.Run(c.name, func(t *testing.T) {
			resp, answer := sendRaw(t, addr, string(c.raw()))
			orders := rec.take()
			seen := log.next(t)
			if len(seen) == 0 {
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("PHP saw nothing, the gateway answered %d (want a 4xx): %s", resp.StatusCode, answer)
				}
				if c.want != "refused" {
					t.Fatalf("refused with %d, want forwarded: %s", resp.StatusCode, answer)
				}
				return
			}
			if c.want != "forwarded" {
				t.Fatalf("forwarded, want refused")
			}
			s := seen[0]
			screened := s.Screening["HTTP_X_SCREENING_DECISION"] != ""
			if storefrontCheckout(s) && (!screened || len(orders) != 1) {
				t.Fatalf("PHP runs the checkout (%v), but the request was not screened (%d orders)", s.Readings, len(orders))
			}
			if !storefrontCheckout(s) && (screened || len(orders) != 0) {
				t.Errorf("PHP does not take it for a checkout (%v), but it was screened", s.Readings)
			}
		})
	}
}

// storefrontCheckout says whether the storefront behind a profile takes
// the request PHP received for its checkout.
func storefrontCheckout(s phpSeen) bool {
	r := s.Readings
	if r["wc_ajax"] == "checkout" {
		return true
	}
	if rr := r["rest_route"]; rr != "" {
		for _, c := range []string{"/wc/store/v1/checkout", "/wc/store/checkout"} {
			if rr == c || strings.HasPrefix(rr, c+"/") {
				return true
			}
		}
	}
	return r["whmcs_a"] == "checkout" && strings.HasPrefix(strings.ToLower(s.Path), "/cart.php")
}
