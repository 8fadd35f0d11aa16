package gateway

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

func TestRouteKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/checkout", "/checkout"},
		{"/static/css/shop.css", "/static/css/shop.css"},
		{"", "/"},
		{"//checkout", "/checkout"},
		{"/checkout/", "/checkout"},
		{"/x/../checkout", "/checkout"},
		{"/../../checkout", "/checkout"},
		{"/./checkout", "/checkout"},
		{"/CheckOut", "/checkout"},
		{"/checkout;jsessionid=1", "/checkout"},
		{"/checkout.", "/checkout"},
		{"/checkout...", "/checkout"},
		{"/checkout ", "/checkout"},
		{"/checkout. . ", "/checkout"},
		{`/checkout\`, "/checkout"},
		{`\checkout`, "/checkout"},
		{`/x\..\checkout`, "/checkout"},
		{"/checkout?x", "/checkout"},
		{"/checkout#x", "/checkout"},
		{"/checkout/index.php", "/checkout/index.php"},
		{"/che\u212Aout", "/chekout"}, // Kelvin sign folds like k
		{"/\u017Fhop", "/shop"},       // long s folds like s
		{"/\u0131tem", "/item"},       // dotless i upper-cases to I
		{"/CAF\u00c9", "/caf\u00e9"},  // É
		{"/a\xffb", "/a\xffb"},        // not UTF-8: kept
		{"/a.b/c", "/a.b/c"},          // an inner dot is a name
		{"/.well-known/x", "/.well-known/x"},
	}
	for _, tt := range tests {
		if got := routeKey(tt.in); got != tt.want {
			t.Errorf("routeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := routeKey(routeKey(tt.in)); got != tt.want {
			t.Errorf("routeKey is not idempotent on %q: %q", tt.in, got)
		}
	}
}

// TestRouteKeyDoesNotAllocate: the lookup every ordinary proxied request
// pays builds no string.
func TestRouteKeyDoesNotAllocate(t *testing.T) {
	index := newRouteIndex(demoRoutes())
	for _, p := range []string{"/", "/static/css/shop.css", "/products/vps-s1", "/api/orders"} {
		n := testing.AllocsPerRun(100, func() {
			_ = index.lookup(routeKey(p))
			_ = isGatewayPath(p)
		})
		if n != 0 {
			t.Errorf("matching %q allocated %v times, want 0", p, n)
		}
	}
}

func TestRouteIndexLookup(t *testing.T) {
	routes := []screening.InterceptRoute{{Path: "/checkout"}, {Path: "/Shop/API/Order"}, {Path: "/shop/api/order/bulk"}}
	tests := []struct{ key, want string }{
		{"/checkout", "/checkout"},
		{"/checkout/index.php", "/checkout"},
		{"/checkouts", ""},
		{"/shop/api/order", "/Shop/API/Order"},
		{"/shop/api/order/x", "/Shop/API/Order"},
		{"/shop/api/order/bulk/x", "/shop/api/order/bulk"},
		{"/shop/api", ""},
		{"/shop", ""},
		{"/", ""},
		{"/static/app.css", ""},
	}
	ix := newRouteIndex(routes)
	for _, tt := range tests {
		rt, ok := firstRoute(ix.lookup(tt.key))
		if rt.Path != tt.want || ok != (tt.want != "") {
			t.Errorf("lookup(%q) = %q, %v; want %q", tt.key, rt.Path, ok, tt.want)
		}
	}
	root := newRouteIndex([]screening.InterceptRoute{{Path: "/"}, {Path: "/checkout"}})
	for key, want := range map[string]string{"/": "/", "/x/y": "/", "/checkout/x": "/checkout"} {
		if rt, _ := firstRoute(root.lookup(key)); rt.Path != want {
			t.Errorf("with a route /: lookup(%q) = %q, want %q", key, rt.Path, want)
		}
	}
}

// firstRoute is the route of the longest path a lookup found.
func firstRoute(refs []routeRef) (screening.InterceptRoute, bool) {
	if len(refs) == 0 {
		return screening.InterceptRoute{}, false
	}
	return *refs[0].route, true
}

func TestPathAmbiguity(t *testing.T) {
	tests := []struct {
		target string // request target as sent
		want   string // part of the reason; "" = accepted
	}{
		{"/checkout", ""},
		{"/checkout.", ""},
		{"/checkout%20", ""},
		{"/x/../checkout", ""},
		{"/checkout;x", ""},
		{"/100%25", ""}, // a literal percent sign
		{"/caf%C3%A9", ""},
		{"/checkout%00", "control character"},
		{"/checkout%0a", "control character"},
		{"/checkout%7f", "control character"},
		{"/checkout%5c", "backslash"},
		{`/checkout\`, "backslash"},
		{"/x%2f..%2fcheckout", "encoded slash"},
		{"/x%2F..%2Fcheckout", "encoded slash"},
		{"/x/..%252fcheckout", "twice"},
		{"/checkout%2500", "twice"},
		{"/x/..;/checkout", "dot segment"},
		{"/x/.;a/checkout", "dot segment"},
		{"/x/.../checkout", "only dots and spaces"},
		{"/x/..%20/checkout", "only dots and spaces"},
		{"/x/.%20/checkout", "only dots and spaces"},
		{"*", "start with /"},
	}
	for _, tt := range tests {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST " + tt.target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Fatalf("reading %q: %v", tt.target, err)
		}
		got := pathAmbiguity(req.URL.Path, req.URL.RawPath)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("pathAmbiguity(%q) = %q, want %q", tt.target, got, tt.want)
		}
	}
}

// referenceRoute is how a lenient storefront router could read a request
// target, written independently of routeKey: percent-decode (repeatedly,
// for routers that decode twice), cut at NUL (C strings), fold case, split
// on / and \, drop ;parameters, resolve dot segments, then trim trailing
// dots and spaces and drop empty segments.
func referenceRoute(target string) string {
	p, _, _ := strings.Cut(target, "?")
	for range 3 {
		d, err := url.PathUnescape(p)
		if err != nil {
			break
		}
		p = d
	}
	if i := strings.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	p, _, _ = strings.Cut(p, "?")
	p = strings.ToLower(p)
	var out []string
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		seg, _, _ = strings.Cut(seg, ";")
		switch seg {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var kept []string
	for _, seg := range out {
		if seg = strings.TrimRight(seg, ". "); seg != "" {
			kept = append(kept, seg)
		}
	}
	return "/" + strings.Join(kept, "/")
}

// FuzzCheckoutRouting: whatever request target and method a client sends,
// if the reference router would take it to a checkout path (or below it)
// with a method that carries a body, the public chain's first step and the
// interceptor screen it or refuse it; it never reaches the storefront
// unscreened.
func FuzzCheckoutRouting(f *testing.F) {
	for _, target := range []string{
		"/checkout", "/checkout.", "/checkout%20", "/checkout%5c", "/checkout%00", "/checkout/x",
		"/checkout/index.php", "/CHECKOUT", "/checkout;a=b", "/x/..;/checkout", "/x%2f..%2fcheckout",
		"//checkout", "/checkout%252e", "/api/checkout/", "/Api/Checkout.", "/x/.../checkout",
		"/checkout%3fx", "/che%C4%B8out", "/", "/static/app.css", `/x\..\checkout`,
	} {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "post", "FOO"} {
			f.Add(m, target)
		}
	}
	routes := demoRoutes()
	const form = "order_id=F-1&email=ann%40example.com&country=US&plan=vps-1&amount=5.00&card_bin=411111&card_last4=1111"
	logger := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, method, target string) {
		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", method, target, len(form), form)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 itself
		}
		req.RemoteAddr = "192.0.2.7:1234"
		req = req.WithContext(clientip.NewContext(req.Context(), netip.MustParseAddr("192.0.2.7")))
		orders := &fakeOrders{result: orders.Result{Decision: screening.Accept}}
		var reached, screened bool
		upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			screened = r.Header.Get("X-Screening-Decision") != ""
			_, _ = io.Copy(io.Discard, r.Body)
		})
		h, err := refuseAmbiguousRequests(logger, prometheus.NewRegistry(), NewInterceptor(routes, orders, logger)(upstream))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		// The fast path agrees with the slow one, and a key is its own key.
		if p := req.URL.Path; isRouteKey(p) && canonicalize(p) != p {
			t.Fatalf("isRouteKey(%q) but canonicalize gives %q", p, canonicalize(p))
		}
		if k := routeKey(req.URL.Path); routeKey(k) != k {
			t.Fatalf("routeKey(%q) = %q, whose own key is %q", req.URL.Path, k, routeKey(k))
		}
		ref := referenceRoute(req.RequestURI)
		checkout := false
		for _, rt := range routes {
			if underRoute(ref, strings.ToLower(rt.Path)) {
				checkout = true
			}
		}
		if checkout && !bodyless(method) && reached && (!screened || len(orders.submitted) != 1) {
			t.Fatalf("%s %q: a storefront routes it to %s, and it was forwarded unscreened (status %d)", method, target, ref, rec.Code)
		}
		if reached && screened && len(orders.submitted) == 0 {
			t.Fatalf("%s %q: forwarded with a screening header nobody set", method, target)
		}
	})
}

// FuzzExemptPathsCannotBeStretched: a path the public chain lets through
// and the geo-block exempts (here "/hooks/" and the policy page) is, to a
// lenient storefront router, still under that exemption: no spelling
// stretches an exempt prefix to another page.
func FuzzExemptPathsCannotBeStretched(f *testing.F) {
	for _, target := range []string{
		"/hooks/x", "/hooks/../checkout", "/hooks/..;/checkout", "/hooks/..%2fcheckout", `/hooks/..\checkout`,
		"/hooks/...%20/checkout", "/hooks/%2e%2e/checkout", "/hooks/%252e%252e/checkout", "/hooks/a../..%5c..%5ccheckout",
		"/_gateway/blocked", "/_gateway/blocked/../../checkout", "/hooks/x%00/../../checkout",
	} {
		f.Add(target)
	}
	cfg := geoblock.Config{ExemptPaths: []string{"/hooks/"}}
	cfg.SetDefaults()
	policy, err := geoblock.NewPolicy(cfg)
	if err != nil {
		f.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: shop\r\n\r\n")))
		if err != nil {
			return
		}
		var exempt bool
		h, err := refuseAmbiguousRequests(logger, prometheus.NewRegistry(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			exempt = policy.Exempt(r.URL.Path)
		}))
		if err != nil {
			t.Fatal(err)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !exempt {
			return
		}
		if ref := referenceRoute(req.RequestURI); !underRoute(ref, "/hooks") && ref != "/_gateway/blocked" {
			t.Fatalf("%q is exempt from the geo-block, and a storefront routes it to %s", target, ref)
		}
	})
}
