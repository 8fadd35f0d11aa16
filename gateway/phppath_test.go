package gateway

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

// phpDocroot is a storefront as PHP's built-in server serves it from files:
// a checkout directory with an index.php (so /checkout, /checkout/ and
// /checkout/index.php run it) and a cart.php front script (which PHP also
// runs for PATH_INFO like /cart.php/x). Each script reports that it ran and
// whether the gateway's screening headers came with the request.
var phpDocroot = map[string]string{
	"checkout/index.php": phpReport,
	"cart.php":           phpReport,
	"about.html":         "about",
}

const phpReport = `<?php
header('Content-Type: application/json');
echo json_encode([
	'script' => substr(__FILE__, strlen($_SERVER['DOCUMENT_ROOT'])),
	'method' => $_SERVER['REQUEST_METHOD'],
	'uri' => $_SERVER['REQUEST_URI'],
	'decision' => $_SERVER['HTTP_X_SCREENING_DECISION'] ?? '',
]);
`

// TestPHPPathOracle sends a corpus of checkout spellings and methods
// through the gateway to PHP's built-in server. Property: whenever PHP runs
// a checkout script for a request with a method that carries a body, the
// request was screened (it arrives with X-Screening-Decision) or the
// gateway refused it and PHP never saw it.
func TestPHPPathOracle(t *testing.T) {
	php := testenv.StartPHPDocroot(t, phpDocroot, nil).URL
	routes := []screening.InterceptRoute{demoRoutes()[0], demoRoutes()[0]}
	routes[0].Path, routes[1].Path = "/checkout", "/cart.php"
	orders := &fakeOrders{result: orders.Result{Decision: screening.Accept}}
	logger := slog.New(slog.DiscardHandler)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, php), Intercept: NewInterceptor(routes, orders, logger)})

	targets := []string{
		"/checkout", "/checkout/", "/checkout/index.php", "/checkout//index.php", "/checkout/./index.php",
		"/x/../checkout/index.php", "/checkout/index.php/extra", "/checkout/index.php/", "/checkout/index.php?x=1",
		"/%63heckout/index.php", "/checkout/index.ph%70", "/checkout%2findex.php", "/checkout/index.php%00",
		"/checkout/index.php%00.html", "/checkout/index.php.", "/checkout./index.php", "/checkout/index.php;x",
		"/cart.php", "/cart.php/", "/cart.php/x", "/cart.php/x/y.html", "//cart.php", "/./cart.php", "/cart.php;x",
		"/cart.ph%70", "/cart.php%2fx", "/cart.php%3fa", "/cart.php%23a", "/CART.PHP", "/cart.php.", "/cart.php%20",
		`/x\..\cart.php`, "/x/..%5ccart.php", "/about.html/../cart.php", "/about.html", "/index.php/cart.php",
	}
	methods := []string{"POST", "PUT", "PATCH", "DELETE", "post", "BREW", "GET"}
	ran := 0
	for _, target := range targets {
		for _, method := range methods {
			raw := formRequest(method, target)
			if method == "GET" {
				raw = "GET " + target + " HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n"
			}
			resp, body := sendRaw(t, pub, raw)
			var got struct{ Script, Method, URI, Decision string }
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Script == "" {
				continue // refused by the gateway, or no script ran
			}
			ran++
			if method != "GET" && got.Decision == "" {
				t.Errorf("%s %s: PHP ran %s (as %s %s) unscreened", method, target, got.Script, got.Method, got.URI)
			}
		}
	}
	// The corpus must exercise the property, not pass by PHP running nothing.
	if ran < len(methods)*4 {
		t.Errorf("PHP ran a checkout script for only %d requests; the corpus is not reaching it", ran)
	}
	t.Logf("PHP ran a checkout script for %d of %d requests", ran, len(targets)*len(methods))
}
