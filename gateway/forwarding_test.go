package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// forwardingOutcome is what the storefront must be told (or that the
// gateway refuses). Empty addr means the socket peer (127.0.0.1), empty
// proto and host what the gateway saw (http, its own address).
type forwardingOutcome struct {
	refused           bool
	addr, proto, host string
}

// wantForwarded is an RFC 7239 element written independently of
// clientip.FormatForwarded: IPv6 bracketed and quoted, a host with a port
// quoted.
func wantForwarded(addr, proto, host string) string {
	f := "for=" + addr
	if netip.MustParseAddr(addr).Is6() {
		f = `for="[` + addr + `]"`
	}
	if strings.ContainsAny(host, ":[]") {
		host = `"` + host + `"`
	}
	return f + ";host=" + host + ";proto=" + proto
}

// TestForwardingHeadersToStorefront is finding 6 (and, through the public
// chain, finding 5) of issue 7: for every forwarded_header mode, behind a
// trusted proxy or not, the storefront receives the client address the
// gateway decided on in X-Forwarded-For, X-Real-IP and Forwarded, with
// nothing a client wrote, and no other header that names a client; a chain
// that cannot be attributed is a 400 that never reaches it.
func TestForwardingHeadersToStorefront(t *testing.T) {
	// Values a client writes to pose as someone else; none may reach the
	// storefront.
	const spoof = "203.0.113.66"
	spoofs := http.Header{}
	for _, h := range []string{
		"X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Client-Ip", "X-Cluster-Client-Ip",
		"Fastly-Client-Ip", "X-Original-Forwarded-For", "Client-Ip", "X-Forwarded", "Forwarded-For",
		"X-Proxyuser-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Real-Client-Ip",
		"Incap-Client-Ip", "X-Sucuri-Clientip", "Wl-Proxy-Client-Ip", "Cf-Connecting-Ipv6",
	} {
		spoofs[h] = []string{spoof}
	}
	spoofs["X-Forwarded-For"] = []string{"192.0.2.7"}
	for _, h := range []string{"X-Forwarded-Port", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Scheme", "Front-End-Https", "X-Forwarded-Prefix", "X-Url-Scheme", "X-Original-Host"} {
		spoofs[h] = []string{"evil.example"}
	}

	peer := forwardingOutcome{}
	refused := forwardingOutcome{refused: true}
	tests := []struct {
		name string
		hdr  http.Header
		// untrusted: the gateway trusts no proxy (in every mode); the
		// others: it trusts 127.0.0.1 with forwarded_header auto,
		// x-forwarded-for, forwarded.
		untrusted, auto, xff, fwd forwardingOutcome
	}{
		{name: "no forwarding headers", untrusted: peer, auto: peer, xff: peer, fwd: peer},
		{
			name:      "client X-Forwarded-For",
			hdr:       http.Header{"X-Forwarded-For": {"203.0.113.9"}},
			untrusted: peer, auto: forwardingOutcome{addr: "203.0.113.9"}, xff: forwardingOutcome{addr: "203.0.113.9"}, fwd: peer,
		},
		{
			// The reproduction: the storefront got "203.0.113.9,
			// 127.0.0.1" while the gateway judged 192.0.2.7.
			name:      "client X-Forwarded-For beside the proxy's Forwarded",
			hdr:       http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"for=192.0.2.7"}},
			untrusted: peer, auto: forwardingOutcome{addr: "203.0.113.9"}, xff: forwardingOutcome{addr: "203.0.113.9"},
			fwd: forwardingOutcome{addr: "192.0.2.7"},
		},
		{
			name:      "Forwarded with IPv6, proto and host",
			hdr:       http.Header{"Forwarded": {`for="[2001:db8::7]:4711";proto=https;host=shop.example`}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"evil.example"}},
			untrusted: peer,
			auto:      forwardingOutcome{addr: "2001:db8::7", proto: "https", host: "shop.example"},
			xff:       forwardingOutcome{proto: "http", host: "evil.example"}, // X- headers from a trusted XFF proxy
			fwd:       forwardingOutcome{addr: "2001:db8::7", proto: "https", host: "shop.example"},
		},
		{
			name:      "every other client address and scheme header",
			hdr:       spoofs,
			untrusted: peer, auto: forwardingOutcome{addr: "192.0.2.7"}, xff: forwardingOutcome{addr: "192.0.2.7"}, fwd: peer,
		},
		{
			name:      "X-Forwarded-Proto and Host from the proxy",
			hdr:       http.Header{"X-Forwarded-For": {"192.0.2.7"}, "X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"shop.example:8443"}},
			untrusted: peer,
			auto:      forwardingOutcome{addr: "192.0.2.7", proto: "https", host: "shop.example:8443"},
			xff:       forwardingOutcome{addr: "192.0.2.7", proto: "https", host: "shop.example:8443"},
			fwd:       peer, // a Forwarded proxy passes the X- headers through from the client
		},
		{
			name:      "X-Forwarded-Proto and Host that are not plain are replaced",
			hdr:       http.Header{"X-Forwarded-For": {"192.0.2.7"}, "X-Forwarded-Proto": {"javascript"}, "X-Forwarded-Host": {"evil.example/x?y=1"}},
			untrusted: peer, auto: forwardingOutcome{addr: "192.0.2.7"}, xff: forwardingOutcome{addr: "192.0.2.7"}, fwd: peer,
		},
		{
			// Finding 5: the quote swallows the proxy's element.
			name:      "unterminated quote in Forwarded",
			hdr:       http.Header{"Forwarded": {`for="x, for=198.51.100.7`}},
			untrusted: peer, auto: refused, xff: peer, fwd: refused,
		},
		{
			name:      "garbage behind the trusted hop in X-Forwarded-For",
			hdr:       http.Header{"X-Forwarded-For": {"198.51.100.7, unknown"}},
			untrusted: peer, auto: refused, xff: refused, fwd: peer,
		},
		{
			name:      "empty element in X-Forwarded-For",
			hdr:       http.Header{"X-Forwarded-For": {"198.51.100.7,"}},
			untrusted: peer, auto: refused, xff: refused, fwd: peer,
		},
		{
			name:      "Forwarded for=unknown",
			hdr:       http.Header{"Forwarded": {"for=198.51.100.7, for=unknown"}},
			untrusted: peer, auto: refused, xff: peer, fwd: refused,
		},
	}

	up := newRecordingUpstream(t)
	type gw struct {
		name    string
		trusted []string
		mode    string
		pick    func(i int) forwardingOutcome
	}
	gws := []gw{
		{"untrusted/auto", nil, "auto", func(i int) forwardingOutcome { return tests[i].untrusted }},
		{"untrusted/x-forwarded-for", nil, "x-forwarded-for", func(i int) forwardingOutcome { return tests[i].untrusted }},
		{"untrusted/forwarded", nil, "forwarded", func(i int) forwardingOutcome { return tests[i].untrusted }},
		{"trusted/auto", []string{"127.0.0.1"}, "auto", func(i int) forwardingOutcome { return tests[i].auto }},
		{"trusted/x-forwarded-for", []string{"127.0.0.1"}, "x-forwarded-for", func(i int) forwardingOutcome { return tests[i].xff }},
		{"trusted/forwarded", []string{"127.0.0.1"}, "forwarded", func(i int) forwardingOutcome { return tests[i].fwd }},
	}
	for _, g := range gws {
		pub, _ := startGateway(t, Config{TrustedProxies: g.trusted, ForwardedHeader: g.mode}, Deps{Upstream: mustURL(t, up.URL)})
		for i, tt := range tests {
			t.Run(g.name+"/"+tt.name, func(t *testing.T) {
				want := g.pick(i)
				req, _ := http.NewRequest("GET", pub+"/cart", nil)
				for k, v := range tt.hdr {
					req.Header[k] = v
				}
				req.Header.Set("Accept", "application/json")
				before := up.hits()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want.refused {
					var e struct{ Error apiError }
					if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error.Code != "unattributable_client" {
						t.Errorf("status %d, body %s; want 400 unattributable_client", resp.StatusCode, body)
					}
					if up.hits() != before {
						t.Errorf("a refused request reached the storefront")
					}
					if resp.Header.Get("X-Request-Id") == "" {
						t.Errorf("the refusal has no X-Request-Id")
					}
					return
				}
				if resp.StatusCode != http.StatusOK || up.hits() != before+1 {
					t.Fatalf("status %d, body %s; want 200 from the storefront", resp.StatusCode, body)
				}
				addr, proto, host := want.addr, want.proto, want.host
				if addr == "" {
					addr = "127.0.0.1"
				}
				if proto == "" {
					proto = "http"
				}
				if host == "" {
					host = strings.TrimPrefix(pub, "http://")
				}
				got := up.lastHeader()
				wantHeaders := map[string][]string{
					"X-Forwarded-For":   {addr},
					"X-Real-Ip":         {addr},
					"Forwarded":         {wantForwarded(addr, proto, host)},
					"X-Forwarded-Proto": {proto},
					"X-Forwarded-Host":  {host},
				}
				gotHeaders := map[string][]string{}
				for k, v := range got {
					if _, ok := wantHeaders[k]; ok || tt.hdr[k] != nil {
						gotHeaders[k] = v
					}
				}
				if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
					t.Errorf("client headers at the storefront (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestRequestIDToStorefront: a client's X-Request-Id reaches the storefront
// (and the logs) only when it is a short safe token.
func TestRequestIDToStorefront(t *testing.T) {
	up := newRecordingUpstream(t)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL)})
	tests := []struct {
		name string
		in   []string
		keep bool
	}{
		{"load balancer id", []string{"lb-1234.abcd_EF"}, true},
		{"64 characters", []string{strings.Repeat("a", 64)}, true},
		{"markup", []string{"<script>alert(1)</script>"}, false},
		{"header injection attempt", []string{"abcdefgh, 203.0.113.66"}, false},
		{"too long", []string{strings.Repeat("a", 65)}, false},
		{"too short to be unique", []string{"abc"}, false},
		{"two values", []string{"lb-1234.abcd_EF", "lb-5678.abcd_EF"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", pub+"/", nil)
			req.Header["X-Request-Id"] = tt.in
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := up.lastHeader()["X-Request-Id"]
			if len(got) != 1 || got[0] != resp.Header.Get("X-Request-Id") {
				t.Fatalf("X-Request-Id at the storefront %q, in the response %q: want one, the same", got, resp.Header.Get("X-Request-Id"))
			}
			if kept := got[0] == tt.in[0]; kept != tt.keep {
				t.Errorf("X-Request-Id %q became %q: kept = %v, want %v", tt.in, got[0], kept, tt.keep)
			}
			if !tt.keep && !isSafeRequestID(got[0]) {
				t.Errorf("generated X-Request-Id %q is not a safe token", got[0])
			}
		})
	}
}

func isSafeRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// TestRefusalBeforeGeoblock: a chain that cannot be attributed is answered
// before the geo-block, the customer pages or interception see the request
// (they would judge the request by some address, and there is none).
func TestRefusalBeforeGeoblock(t *testing.T) {
	up := newRecordingUpstream(t)
	var inner atomic.Int64
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.Add(1)
			next.ServeHTTP(w, r)
		})
	}
	pub, _ := startGateway(t, Config{TrustedProxies: []string{"127.0.0.1"}}, Deps{
		Upstream:  mustURL(t, up.URL),
		Geoblock:  func(next http.Handler) (http.Handler, error) { return count(next), nil },
		Customer:  count(http.NotFoundHandler()),
		Intercept: count,
	})
	for _, path := range []string{"/", "/checkout", "/_gateway/blocked"} {
		req, _ := http.NewRequest("POST", pub+path, strings.NewReader("country=US"))
		req.Header.Set("Forwarded", `for="x, for=198.51.100.7`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s = %d, want 400", path, resp.StatusCode)
		}
	}
	if n := inner.Load(); n != 0 || up.hits() != 0 {
		t.Errorf("inner handlers ran %d times, the storefront %d times: want neither", n, up.hits())
	}
}
