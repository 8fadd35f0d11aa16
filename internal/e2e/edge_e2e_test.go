package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// edgeUpstream is the storefront behind the public edge tests. It records
// every request it is sent (with its trailers), and, like a careless
// storefront, answers any request that asks for an upgrade with 101 and
// keeps reading HTTP requests on the connection: whatever arrives there
// passed no check of the gateway.
type edgeUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []string // "METHOD path upgrade=... trailers=..."
	tunneled []string // requests read after a 101
}

func startEdgeUpstream(t *testing.T) *edgeUpstream {
	t.Helper()
	u := &edgeUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		up := r.Header.Get("Upgrade")
		u.record(&u.seen, fmt.Sprintf("%s %s upgrade=%q http2-settings=%q trailer-header=%q trailers=%v",
			r.Method, r.URL.Path, up, r.Header.Get("HTTP2-Settings"), r.Header.Values("Trailer"), r.Trailer))
		if up == "" {
			w.Header().Set(upstreamHeader, "1")
			return
		}
		testenv.SwitchAndReadHTTP(w, r, func(req string) { u.record(&u.tunneled, req) })
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *edgeUpstream) record(list *[]string, s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	*list = append(*list, s)
}

// take returns and forgets what the upstream saw.
func (u *edgeUpstream) take() (seen, tunneled []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	seen, tunneled = u.seen, u.tunneled
	u.seen, u.tunneled = nil, nil
	return seen, tunneled
}

// edgeConn is one client connection to the gateway, written byte for byte.
type edgeConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialEdge(t *testing.T, public string) *edgeConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(public, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	return &edgeConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// roundTrip writes raw and reads one answer.
func (c *edgeConn) roundTrip(raw string) *http.Response {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading the answer to %.60q: %v", raw, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp
}

// edgeCheckout is a checkout from a US visitor with a German billing
// address: screening rejects it (403), so an answer from the upstream means
// it went past the screening.
func edgeCheckout(method, target, orderID string, extra ...string) string {
	body := "order_id=" + orderID + "&email=ann%40example.com&country=DE&amount=5.00&currency=USD"
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 192.0.2.7\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n%s\r\n%s",
		method, target, len(body), strings.Join(extra, ""), body)
}

// TestPublicEdge runs the gateway binary in front of a storefront stand-in
// and sends what issue 7's findings 3, 4, 7, 13 and 14 sent: none of it may
// reach the storefront unscreened, and no tunnel may open but a listed
// websocket.
func TestPublicEdge(t *testing.T) {
	up := startEdgeUpstream(t)
	gw := startGateway(t, map[string]string{
		"GATEWAY_UPSTREAM":              up.URL,
		"GATEWAY_TRUSTED_PROXIES":       "127.0.0.1",
		"GATEWAY_GEOBLOCK_EXEMPT_PATHS": "/hooks/",
		"GATEWAY_PROXY_WEBSOCKET_PATHS": "/ws",
		"GATEWAY_LOG_LEVEL":             "warn",
		"GATEWAY_INTERCEPT":             `[{"path": "/checkout", "format": "form", "fields": {"order_id": "order_id", "account.email": "email", "billing.country": "country", "amount": "amount", "currency": "currency"}}]`,
	})

	t.Run("checkout variants are screened or refused", func(t *testing.T) {
		cases := []struct {
			method, target string
			want           int
		}{
			{"POST", "/checkout", 403},
			{"POST", "/checkout.", 403},
			{"POST", "/checkout%20", 403},
			{"POST", "/checkout%5c", 400},
			{"POST", "/checkout%00", 400},
			{"POST", "/checkout/x", 403},
			{"POST", "/checkout/index.php", 403},
			{"POST", "/CHECKOUT", 403},
			{"POST", "/x/..;/checkout", 400},
			{"PUT", "/checkout", 403},
			{"PATCH", "/checkout", 403},
			{"DELETE", "/checkout", 403},
			{"BREW", "/checkout", 403},
			{"post", "/checkout", 403},
		}
		for i, c := range cases {
			resp := dialEdge(t, gw.public).roundTrip(edgeCheckout(c.method, c.target, fmt.Sprintf("EDGE-%d", i), "Connection: close\r\n"))
			if resp.StatusCode != c.want || resp.Header.Get(upstreamHeader) != "" {
				t.Errorf("%s %s: status %d (from the storefront: %v), want %d", c.method, c.target, resp.StatusCode, resp.Header.Get(upstreamHeader) != "", c.want)
			}
		}
		if seen, _ := up.take(); len(seen) != 0 {
			t.Errorf("the storefront received checkouts: %q", seen)
		}
	})

	t.Run("trailers", func(t *testing.T) {
		chunked := func(target string) string {
			body := "a=b"
			return "POST " + target + " HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 192.0.2.7\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				"Transfer-Encoding: chunked\r\nTrailer: X-Screening-Decision, X-Client-Country\r\nConnection: close\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Screening-Decision: accept\r\nX-Client-Country: US\r\n\r\n", len(body), body)
		}
		if resp := dialEdge(t, gw.public).roundTrip(chunked("/cart")); resp.StatusCode != http.StatusOK {
			t.Errorf("chunked POST /cart: status %d, want 200", resp.StatusCode)
		}
		if resp := dialEdge(t, gw.public).roundTrip(chunked("/checkout")); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("chunked checkout declaring trailers: status %d, want 400", resp.StatusCode)
		}
		seen, _ := up.take()
		if len(seen) != 1 || !strings.HasSuffix(seen[0], `trailer-header=[] trailers=map[]`) {
			t.Errorf("the storefront saw %q, want one POST /cart without trailers", seen)
		}
	})

	t.Run("/_gateway/ is never proxied", func(t *testing.T) {
		cases := []struct {
			visitor, method, target string
			want                    int
		}{
			{"198.51.100.7", "POST", "/_gateway/blocked", 405},
			{"198.51.100.7", "GET", "/_gateway/blocked", 200},
			{"198.51.100.7", "GET", "/_gateway/status", 451},
			{"192.0.2.7", "POST", "/_gateway/blocked", 405},
			{"192.0.2.7", "GET", "/_gateway/status", 404},
			{"192.0.2.7", "POST", "/_GATEWAY/status", 404},
			{"192.0.2.7", "GET", "//_gateway/status", 404},
			{"192.0.2.7", "GET", "/_gateway%2fstatus", 400},
		}
		for _, c := range cases {
			raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", c.method, c.target, c.visitor)
			if resp := dialEdge(t, gw.public).roundTrip(raw); resp.StatusCode != c.want {
				t.Errorf("%s %s from %s: status %d, want %d", c.method, c.target, c.visitor, resp.StatusCode, c.want)
			}
		}
		if seen, _ := up.take(); len(seen) != 0 {
			t.Errorf("the storefront received %q", seen)
		}
	})

	t.Run("upgrades", func(t *testing.T) {
		const ws = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		cases := []struct {
			name, visitor, target, headers string
			want101                        bool
		}{
			{"websocket on a listed path", "192.0.2.7", "/ws", ws, true},
			{"h2c", "192.0.2.7", "/", "Upgrade: h2c\r\nConnection: Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
			{"websocket on an unlisted path", "192.0.2.7", "/other", ws, false},
			{"websocket on an exempt path, from Germany", "198.51.100.7", "/hooks/ws", ws, false},
			{"websocket on a checkout path", "192.0.2.7", "/checkout", ws, false},
		}
		for i, c := range cases {
			conn := dialEdge(t, gw.public)
			resp := conn.roundTrip(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: %s\r\n%s\r\n", c.target, c.visitor, c.headers))
			if got := resp.StatusCode == http.StatusSwitchingProtocols; got != c.want101 {
				t.Errorf("%s: status %d, want 101: %v", c.name, resp.StatusCode, c.want101)
				continue
			}
			seen, tunneled := up.take()
			if c.want101 {
				continue
			}
			for _, s := range seen {
				if !strings.Contains(s, `upgrade="" http2-settings=""`) {
					t.Errorf("%s: the storefront was asked to switch: %s", c.name, s)
				}
			}
			if resp.Close {
				continue
			}
			// The same connection carries a checkout next: through a tunnel
			// it would reach the storefront unscreened.
			resp = conn.roundTrip(edgeCheckout("POST", "/checkout", fmt.Sprintf("EDGE-UP-%d", i)))
			_, tunneled = up.take()
			if resp.StatusCode != http.StatusForbidden || len(tunneled) != 0 {
				t.Errorf("%s: the next checkout got %d, the tunnel carried %q", c.name, resp.StatusCode, tunneled)
			}
		}
	})

	t.Run("bodies on GET, CONNECT, TRACE", func(t *testing.T) {
		smuggled := edgeCheckout("POST", "/checkout", "EDGE-SMUGGLED")
		cases := []struct {
			name, raw string
			want      int
		}{
			{"GET with a body", fmt.Sprintf("GET / HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 192.0.2.7\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
			{"GET with a body on an exempt path", fmt.Sprintf("GET /hooks/x HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 400},
			{"OPTIONS chunked", fmt.Sprintf("OPTIONS / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 400},
			{"CONNECT", fmt.Sprintf("CONNECT shop:443 HTTP/1.1\r\nHost: shop:443\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled), 405},
			{"TRACE", "TRACE / HTTP/1.1\r\nHost: shop\r\n\r\n", 405},
		}
		for _, c := range cases {
			if resp := dialEdge(t, gw.public).roundTrip(c.raw); resp.StatusCode != c.want {
				t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
			}
		}
		if seen, _ := up.take(); len(seen) != 0 {
			t.Errorf("the storefront received %q", seen)
		}
	})
}
