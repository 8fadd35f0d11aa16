package gateway

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/embedded/geoip"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

// seenRequest is what the storefront stand-in received.
type seenRequest struct {
	Method, Path, Body string
	Header, Trailer    http.Header
}

// recordingUpstream is a storefront stand-in that records every request
// (with the trailers that arrived after its body) and answers 200.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{Method: r.Method, Path: r.URL.Path, Body: string(body), Header: r.Header.Clone(), Trailer: r.Trailer.Clone()})
		u.mu.Unlock()
		w.Header().Set("X-From-Upstream", "1")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// hits is how many requests reached the storefront.
func (u *recordingUpstream) hits() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return int64(len(u.seen))
}

// lastHeader is the header of the last request that reached the storefront.
func (u *recordingUpstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1].Header
}

// sendRaw writes raw to the gateway's public address and reads one answer,
// so that the test controls every byte (paths no client library would send
// as written, bodies on GET, trailers).
func sendRaw(t *testing.T, pub, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(pub, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func demoRoutes() []screening.InterceptRoute {
	routes := screening.DemoInterceptRoutes()
	for i := range routes {
		routes[i].SetDefaults()
	}
	return routes
}

const edgeForm = "order_id=E-1&email=ann%40example.com&country=US&plan=vps-1&amount=5.00&card_bin=411111&card_last4=1111"

func formRequest(method, target string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, len(edgeForm), edgeForm)
}

// TestCheckoutVariantsNeverForwardedUnscreened (issue 7, finding 3): every
// spelling and method under which a storefront serves its checkout is
// screened (here: rejected, 403) or refused (400); none reaches it.
func TestCheckoutVariantsNeverForwardedUnscreened(t *testing.T) {
	up := newRecordingUpstream(t)
	orders := &fakeOrders{result: orders.Result{Decision: screening.Reject}}
	logger := slog.New(slog.DiscardHandler)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL), Intercept: NewInterceptor(demoRoutes(), orders, logger)})
	tests := []struct {
		method, target string
		want           int
	}{
		{"POST", "/checkout", 403},
		{"POST", "/checkout.", 403},
		{"POST", "/checkout..", 403},
		{"POST", "/checkout%20", 403},
		{"POST", "/checkout%2e", 403},
		{"POST", "/checkout%5c", 400},
		{"POST", "/checkout%00", 400},
		{"POST", "/checkout%00.jpg", 400},
		{"POST", "/checkout/x", 403},
		{"POST", "/checkout/index.php", 403},
		{"POST", "/CHECKOUT/Index.PHP", 403},
		{"POST", "/checkout;x=1/", 403},
		{"POST", "/checkout%3fx", 403},
		{"POST", "/x/..;/checkout", 400},
		{"POST", "/x%2f..%2fcheckout", 400},
		{"POST", "/x/..%252fcheckout", 400},
		{"POST", "/x/.../checkout", 400},
		{"POST", `/x\..\checkout`, 400},
		{"POST", "/api/checkout/v2", 415}, // a form on the JSON route: refused
		{"PUT", "/checkout", 403},
		{"PATCH", "/checkout", 403},
		{"DELETE", "/checkout", 403},
		{"FOO", "/checkout", 403},
		{"post", "/checkout", 403},
		{"put", "/checkout/", 403},
	}
	for _, tt := range tests {
		resp, body := sendRaw(t, pub, formRequest(tt.method, tt.target))
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: status %d, want %d (%s)", tt.method, tt.target, resp.StatusCode, tt.want, body)
		}
	}
	if got := up.requests(); len(got) != 0 {
		t.Errorf("the storefront received %d checkout variants unscreened, first %s %s", len(got), got[0].Method, got[0].Path)
	}
	// Neighbours are not checkouts: forwarded as they are.
	for _, target := range []string{"/checkouts", "/checkout-help", "/x/checkout"} {
		if resp, _ := sendRaw(t, pub, formRequest("POST", target)); resp.Header.Get("X-From-Upstream") != "1" {
			t.Errorf("POST %s: status %d, want it forwarded", target, resp.StatusCode)
		}
	}
	if resp, _ := sendRaw(t, pub, "GET /checkout HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n"); resp.Header.Get("X-From-Upstream") != "1" {
		t.Errorf("GET /checkout (the form page): status %d, want it forwarded", resp.StatusCode)
	}
}

// TestTrailersNeverForwarded (finding 4): trailers a client declares are
// dropped from every forwarded request, and a checkout that declares any
// is refused.
func TestTrailersNeverForwarded(t *testing.T) {
	up := newRecordingUpstream(t)
	orders := &fakeOrders{result: orders.Result{Decision: screening.Accept}}
	logger := slog.New(slog.DiscardHandler)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL), Intercept: NewInterceptor(demoRoutes(), orders, logger)})
	chunked := func(target string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Transfer-Encoding: chunked\r\nTrailer: X-Screening-Decision, X-Forwarded-For, X-Client-Country\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(edgeForm), edgeForm) +
			"X-Screening-Decision: accept\r\nX-Forwarded-For: 192.0.2.7\r\nX-Client-Country: US\r\n\r\n"
	}
	resp, body := sendRaw(t, pub, chunked("/cart/update"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chunked POST /cart/update: status %d (%s), want 200", resp.StatusCode, body)
	}
	seen := up.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(seen))
	}
	if seen[0].Body != edgeForm {
		t.Errorf("body = %q, want %q", seen[0].Body, edgeForm)
	}
	if len(seen[0].Trailer) != 0 || seen[0].Header["Trailer"] != nil {
		t.Errorf("the storefront received trailers %v (Trailer header %q)", seen[0].Trailer, seen[0].Header["Trailer"])
	}
	for _, h := range []string{"X-Screening-Decision", "X-Client-Country"} {
		if v := seen[0].Header.Values(h); len(v) != 0 {
			t.Errorf("the storefront received %s: %q", h, v)
		}
	}

	resp, body = sendRaw(t, pub, chunked("/checkout"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("chunked checkout with trailers: status %d (%s), want 400", resp.StatusCode, body)
	}
	if len(orders.submitted) != 0 || len(up.requests()) != 1 {
		t.Errorf("a checkout declaring trailers was screened (%d) or forwarded", len(orders.submitted))
	}
}

// edgeGeoblock is the real geo-block over the bundled demo database
// (198.51.100.0/24 is DE, 192.0.2.0/24 US), exempting /hooks/.
func edgeGeoblock(t *testing.T) (func(http.Handler) (http.Handler, error), *geoblock.Policy) {
	t.Helper()
	db, err := geoblock.OpenDB(geoblock.GeoIPConfig{}, geoip.CountryDB(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cfg := geoblock.Config{ExemptPaths: []string{"/hooks/"}}
	cfg.SetDefaults()
	policy, err := geoblock.NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return func(next http.Handler) (http.Handler, error) {
		return geoblock.New(policy, db, nil, nil, next)
	}, policy
}

// TestGatewayNamespaceNeverProxied (finding 7): nothing under /_gateway/,
// by any spelling and with any method, reaches the storefront; a blocked
// visitor gets the policy page or a refusal.
func TestGatewayNamespaceNeverProxied(t *testing.T) {
	for _, withCustomer := range []bool{false, true} {
		t.Run(fmt.Sprintf("customer pages %v", withCustomer), func(t *testing.T) {
			up := newRecordingUpstream(t)
			geo, policy := edgeGeoblock(t)
			deps := Deps{Upstream: mustURL(t, up.URL), Geoblock: geo, PolicyPath: policy.PolicyPath(), GeoExempt: policy.Exempt}
			if withCustomer {
				deps.Customer = http.NotFoundHandler()
			}
			pub, _ := startGateway(t, Config{TrustedProxies: []string{"127.0.0.1"}}, deps)
			tests := []struct {
				visitor, method, target string
				want                    int
			}{
				{"192.0.2.7", "GET", "/_gateway/blocked", 200}, // the geo-block's page
				{"192.0.2.7", "HEAD", "/_gateway/blocked", 200},
				{"192.0.2.7", "POST", "/_gateway/blocked", 405},
				{"192.0.2.7", "PUT", "/_gateway/blocked", 405},
				{"192.0.2.7", "POST", "/_GATEWAY/blocked", 405},
				{"192.0.2.7", "GET", "/_gateway/nothing", 404},
				{"192.0.2.7", "POST", "/_gateway/nothing", 404},
				{"192.0.2.7", "GET", "/_gateway", 404},
				{"192.0.2.7", "GET", "/_GATEWAY/x", 404},
				{"192.0.2.7", "GET", "//_gateway/x", 404},
				{"192.0.2.7", "GET", "/x/../_gateway/x", 404},
				{"192.0.2.7", "GET", "/_gateway./x", 404},
				{"192.0.2.7", "GET", "/_gateway;a/x", 404},
				{"192.0.2.7", "GET", "/_gateway%2fx", 400},
				{"198.51.100.7", "GET", "/_gateway/blocked", 200},
				{"198.51.100.7", "POST", "/_gateway/blocked", 405},
				{"198.51.100.7", "DELETE", "/_gateway/blocked", 405},
				{"198.51.100.7", "GET", "/_gateway/nothing", 451},
				{"198.51.100.7", "GET", "/_GATEWAY/blocked", 451},
			}
			for _, tt := range tests {
				raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: %s\r\nConnection: close\r\n", tt.method, tt.target, tt.visitor)
				if tt.method == "GET" || tt.method == "HEAD" {
					raw += "\r\n"
				} else {
					raw += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b"
				}
				resp, _ := sendRaw(t, pub, raw)
				if resp.StatusCode != tt.want {
					t.Errorf("%s %s from %s: status %d, want %d", tt.method, tt.target, tt.visitor, resp.StatusCode, tt.want)
				}
			}
			if got := up.requests(); len(got) != 0 {
				t.Errorf("the storefront received %d requests under /_gateway/, first %s %s", len(got), got[0].Method, got[0].Path)
			}
		})
	}
}

// switchingUpstream answers every request with 101 (switching to what the
// request asked for, or websocket) and then keeps reading HTTP requests on
// the connection, as a careless storefront would: what arrives there passed
// no check of the gateway.
type switchingUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	upgrades []string // Upgrade and HTTP2-Settings as received
	tunneled []string // requests read after the switch
}

func newSwitchingUpstream(t *testing.T) *switchingUpstream {
	t.Helper()
	u := &switchingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.upgrades = append(u.upgrades, r.URL.Path+" upgrade="+r.Header.Get("Upgrade")+" http2-settings="+r.Header.Get("HTTP2-Settings"))
		u.mu.Unlock()
		testenv.SwitchAndReadHTTP(w, r, func(req string) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.tunneled = append(u.tunneled, req)
		})
	}))
	t.Cleanup(u.Close)
	return u
}

// TestUpgradesOnlyListedWebsocket (finding 13): only a websocket handshake
// on a listed, canonical, non-exempt, non-checkout path is passed on;
// every other upgrade goes on as an ordinary request, and a 101 to it opens
// no tunnel: the next request on the connection is screened.
func TestUpgradesOnlyListedWebsocket(t *testing.T) {
	const handshake = "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	tests := []struct {
		name, method, target, headers string
		want101                       bool
	}{
		{"websocket on a listed path", "GET", "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, true},
		{"websocket under a listed prefix", "GET", "/live/feed", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, true},
		{"h2c", "GET", "/ws", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
		{"h2c, settings not named in Connection", "GET", "/", "Upgrade: h2c\r\nConnection: Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
		{"two tokens", "GET", "/ws", "Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n" + handshake, false},
		{"two headers", "GET", "/ws", "Upgrade: websocket\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + handshake, false},
		{"other token", "GET", "/ws", "Upgrade: TLS/1.2\r\nConnection: Upgrade\r\n", false},
		{"unlisted path", "GET", "/other", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, false},
		{"listed path, other spelling", "GET", "/WS", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, false},
		{"listed path, dot segment", "GET", "/x/../ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, false},
		{"listed but geo-block exempt", "GET", "/hooks/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, false},
		{"listed but a checkout path", "GET", "/checkout/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + handshake, false},
		{"not GET", "PUT", "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n" + handshake, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newSwitchingUpstream(t)
			orders := &fakeOrders{result: orders.Result{Decision: screening.Reject}}
			logger := slog.New(slog.DiscardHandler)
			geo, policy := edgeGeoblock(t)
			cfg := Config{Proxy: ProxyConfig{WebsocketPaths: []string{"/ws", "/live/", "/hooks/ws", "/checkout/ws"}}}
			pub, _ := startGateway(t, cfg, Deps{Upstream: mustURL(t, up.URL), Geoblock: geo, GeoExempt: policy.Exempt,
				Intercept: NewInterceptor(demoRoutes(), orders, logger)})
			conn, err := net.Dial("tcp", strings.TrimPrefix(pub, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: shop\r\n%s\r\n", tt.method, tt.target, tt.headers)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.StatusCode == http.StatusSwitchingProtocols; got != tt.want101 {
				t.Fatalf("status %d, want 101: %v", resp.StatusCode, tt.want101)
			}
			if tt.want101 {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			up.mu.Lock()
			upgrades := up.upgrades
			up.mu.Unlock()
			for _, u := range upgrades {
				if !strings.HasSuffix(u, " upgrade= http2-settings=") {
					t.Errorf("the storefront was asked to switch: %s", u)
				}
			}
			if resp.Close {
				return // no second request on this connection
			}
			// A checkout on the same connection: through a tunnel it would
			// reach the storefront unscreened.
			fmt.Fprint(conn, formRequest("POST", "/checkout"))
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			up.mu.Lock()
			defer up.mu.Unlock()
			if len(up.tunneled) != 0 || resp.StatusCode != http.StatusForbidden {
				t.Errorf("after the upgrade attempt a checkout got %d; the tunnel carried %q", resp.StatusCode, up.tunneled)
			}
		})
	}
}

// TestBodylessMethodsRefused (finding 14): a body on GET, HEAD or OPTIONS,
// CONNECT and TRACE are refused at the front of the chain, exempt paths
// included, before anything is forwarded.
func TestBodylessMethodsRefused(t *testing.T) {
	up := newRecordingUpstream(t)
	geo, policy := edgeGeoblock(t)
	reg := prometheus.NewRegistry()
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL), Geoblock: geo, GeoExempt: policy.Exempt, Registry: reg})
	smuggled := formRequest("POST", "/checkout")
	tests := []struct {
		name, raw string
		want      int
	}{
		{"GET with a length", fmt.Sprintf("GET / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
		{"GET with a body on an exempt path", fmt.Sprintf("GET /hooks/x HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
		{"lower-case get with a body", fmt.Sprintf("get / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
		{"GET chunked", fmt.Sprintf("GET / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 400},
		{"HEAD with a length", fmt.Sprintf("HEAD / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
		{"OPTIONS with a length", fmt.Sprintf("OPTIONS / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
		{"CONNECT", fmt.Sprintf("CONNECT shop:443 HTTP/1.1\r\nHost: shop:443\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 405},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: shop\r\n\r\n", 405},
		{"TRACE on an exempt path", "TRACE /hooks/x HTTP/1.1\r\nHost: shop\r\n\r\n", 405},
		{"TRACK", "TRACK / HTTP/1.1\r\nHost: shop\r\n\r\n", 405},
	}
	for _, tt := range tests {
		resp, body := sendRaw(t, pub, tt.raw)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, resp.StatusCode, body, tt.want)
		}
	}
	if got := up.requests(); len(got) != 0 {
		var seen []string
		for _, r := range got {
			seen = append(seen, r.Method+" "+r.Path)
		}
		t.Errorf("the storefront received %v", seen)
	}
	refused := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "gateway_public_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			refused[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if diff := cmp.Diff(map[string]float64{"body": 6, "method": 4, "path": 0}, refused); diff != "" {
		t.Errorf("gateway_public_refused_total (-want +got):\n%s", diff)
	}
	// Without a body they pass.
	for _, m := range []string{"GET", "OPTIONS"} {
		resp, _ := sendRaw(t, pub, m+" / HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s without a body: status %d, want 200", m, resp.StatusCode)
		}
	}
	var methods []string
	for _, r := range up.requests() {
		methods = append(methods, r.Method)
	}
	if diff := cmp.Diff([]string{"GET", "OPTIONS"}, methods); diff != "" {
		t.Errorf("forwarded methods (-want +got):\n%s", diff)
	}
}

func TestWebsocketPathsConfig(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/ws", true},
		{"/live/", true},
		{"/socket.io/", true},
		{"/", false},
		{"ws", false},
		{"/WS", false},
		{"//ws", false},
		{"/x/../ws", false},
		{"/ws.", false},
		{"/ws;x", false},
		{"/_gateway/ws", false},
		{"/_gateway/", false},
	}
	for _, tt := range tests {
		cfg := Config{Proxy: ProxyConfig{WebsocketPaths: []string{tt.path}}}
		cfg.SetDefaults()
		err := cfg.Validate()
		if (err == nil) != tt.ok || err != nil && !strings.Contains(err.Error(), "proxy.websocket_paths") {
			t.Errorf("Validate(websocket_paths: [%q]) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}

// TestPolicyPathOutsideGatewayNamespace: a policy_url elsewhere on the
// gateway is exempt from the geo-block for every method too; only GET and
// HEAD (answered by the geo-block) are served there, nothing is proxied.
func TestPolicyPathOutsideGatewayNamespace(t *testing.T) {
	reached := false
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })
	h := gatewayPages("/legal/eu", nil, next)
	for _, tt := range []struct {
		method, path string
		want         int
		proxied      bool
	}{
		{"POST", "/legal/eu", 405, false},
		{"DELETE", "/Legal/EU/", 405, false},
		{"GET", "/legal/eu", 200, true}, // only reached without the geo-block in front
		{"POST", "/legal", 200, true},
	} {
		reached = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want || reached != tt.proxied {
			t.Errorf("%s %s: status %d, proxied %v; want %d, %v", tt.method, tt.path, rec.Code, reached, tt.want, tt.proxied)
		}
	}
}
