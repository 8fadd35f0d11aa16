package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/embedded/geoip"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"

	"github.com/vpsgate/gateway/internal/testenv"
)

// startGateway runs a gateway on loopback ports in front of upstream and
// returns its public and admin base URLs.
func startGateway(t *testing.T, cfg Config, deps Deps) (public, admin string) {
	t.Helper()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	gw, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + gw.PublicAddr().String(), "http://" + gw.AdminAddr().String()
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// echoUpstream answers with the request it received, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.RequestURI(), "host": r.Host,
			"headers": r.Header, "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echoed struct {
	Method, Path, Host, Body string
	Headers                  http.Header
}

func getEcho(t *testing.T, req *http.Request) (echoed, *http.Response) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decoding echo (status %d): %v", resp.StatusCode, err)
	}
	return e, resp
}

func TestProxyForwardsHeaders(t *testing.T) {
	up := echoUpstream(t)
	tests := []struct {
		name      string
		trusted   []string
		header    http.Header
		wantXFF   string
		wantProto string
		wantHost  string
	}{
		{
			name:      "untrusted peer: forwarded headers replaced",
			header:    http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			wantXFF:   "127.0.0.1",
			wantProto: "http",
		},
		{
			name:      "trusted peer: the decided client alone, proto and host believed",
			trusted:   []string{"127.0.0.0/8"},
			header:    http.Header{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.example"}},
			wantXFF:   "198.51.100.7",
			wantProto: "https",
			wantHost:  "shop.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, _ := startGateway(t, Config{TrustedProxies: tt.trusted}, Deps{Upstream: mustURL(t, up.URL)})
			req, _ := http.NewRequest("POST", pub+"/cart?x=1", strings.NewReader("hello"))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			req.Header.Set("Connection", "keep-alive, X-Hop")
			req.Header.Set("X-Hop", "must not pass")
			e, resp := getEcho(t, req)
			if e.Method != "POST" || e.Path != "/cart?x=1" || e.Body != "hello" {
				t.Errorf("upstream saw %s %s %q, want POST /cart?x=1 \"hello\"", e.Method, e.Path, e.Body)
			}
			if got := e.Headers.Get("X-Forwarded-For"); got != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.wantXFF)
			}
			if got := e.Headers.Get("X-Forwarded-Proto"); got != tt.wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", got, tt.wantProto)
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = strings.TrimPrefix(pub, "http://")
			}
			if got := e.Headers.Get("X-Forwarded-Host"); got != wantHost {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, wantHost)
			}
			if got := e.Headers.Get("X-Hop"); got != "" {
				t.Errorf("hop-by-hop header X-Hop reached upstream: %q", got)
			}
			if e.Headers.Get("X-Request-Id") == "" || e.Headers.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") {
				t.Errorf("request id upstream %q, response %q: want the same, non-empty", e.Headers.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
			}
		})
	}
}

func TestProxyErrors(t *testing.T) {
	// A port with nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })

	tests := []struct {
		name     string
		upstream string
		accept   string
		want     int
		wantType string
	}{
		{"unreachable is 502", "http://" + deadAddr, "text/html", http.StatusBadGateway, "text/html"},
		{"unreachable JSON client", "http://" + deadAddr, "application/json", http.StatusBadGateway, "application/json"},
		{"slow is 504", slow.URL, "", http.StatusGatewayTimeout, "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Proxy: ProxyConfig{ResponseHeaderTimeout: 100 * time.Millisecond}}
			pub, _ := startGateway(t, cfg, Deps{Upstream: mustURL(t, tt.upstream)})
			req, _ := http.NewRequest("GET", pub+"/", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type = %q, want %s; body %s", ct, tt.wantType, body)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "" || !strings.Contains(string(body), id) {
				t.Errorf("%d answer %q does not carry the request id %q", resp.StatusCode, body, id)
			}
		})
	}
}

func TestProxyStreamsResponse(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL)})
	resp, err := http.Get(pub + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// Each event must arrive before the upstream is allowed to send the
	// next one: a buffering proxy would deadlock here (and the test time out).
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("data: %d\n", i); line != want {
			t.Fatalf("event %d = %q, want %q", i, line, want)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{}
	}
}

func TestProxyWebsocketUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		// Echo raw bytes: enough to prove the tunnel is two-way.
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	pub, _ := startGateway(t, Config{Proxy: ProxyConfig{WebsocketPaths: []string{"/ws"}}}, Deps{Upstream: mustURL(t, up.URL)})
	conn, err := net.Dial("tcp", strings.TrimPrefix(pub, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %d, want 101", resp.StatusCode)
	}
	fmt.Fprintf(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo ping\n" {
		t.Fatalf("tunnel answered %q, %v; want \"echo ping\\n\"", line, err)
	}
}

func TestProxyLargeBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	t.Cleanup(up.Close)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL)})
	const size = 64 << 20
	resp, err := http.Post(pub+"/upload", "application/octet-stream", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != fmt.Sprint(size) {
		t.Errorf("upstream received %s bytes, want %d", body, size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestAdminEndpoints(t *testing.T) {
	up := echoUpstream(t)
	failing := errors.New("connection refused")
	var redisErr error
	deps := Deps{
		Upstream: mustURL(t, up.URL),
		Ready: []ReadyCheck{
			{Name: "redis", Check: func(context.Context) error { return redisErr }},
			{Name: "s3", Check: func(context.Context) error { return nil }},
		},
	}
	pub, admin := startGateway(t, Config{}, deps)

	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(admin + "/healthz"); code != 200 || !strings.Contains(body, "alive") {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, body := get(admin + "/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("/readyz = %d %s, want 200 ready", code, body)
	}
	redisErr = failing
	code, body := get(admin + "/readyz")
	if code != 503 || !strings.Contains(body, `"redis":"connection refused"`) || !strings.Contains(body, `"s3":"ok"`) {
		t.Errorf("/readyz with redis down = %d %s, want 503 naming redis", code, body)
	}
	get(pub + "/some/page")
	if code, body := get(admin + "/metrics"); code != 200 ||
		!strings.Contains(body, `gateway_http_requests_total{code="200",listener="public",method="GET",route="proxy"} 1`) {
		t.Errorf("/metrics = %d, missing the proxied request count:\n%s", code, body)
	}
	if code, body := get(admin + "/nope"); code != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("/nope = %d %s, want JSON 404", code, body)
	}
}

func TestListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Config{Listen: ln.Addr().String(), AdminListen: "127.0.0.1:0"}
	cfg.SetDefaults()
	gw, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Upstream: mustURL(t, "http://127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Listen()
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "(listen)") {
		t.Fatalf("Listen() = %v, want an error naming %s and the key", err, ln.Addr())
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		in   string
		keep bool
	}{
		{"abcdef12-3456", true},
		{"short", false},
		{"has space in it", false},
		{strings.Repeat("a", 65), false},
		{"<script>alert(1)</script>", false},
	}
	for _, tt := range tests {
		got := requestID([]string{tt.in})
		if (got == tt.in) != tt.keep {
			t.Errorf("requestID(%q) = %q, keep=%v", tt.in, got, tt.keep)
		}
		if len(got) < 8 {
			t.Errorf("requestID(%q) = %q, too short", tt.in, got)
		}
	}
}

func TestAdminPprofIsOptIn(t *testing.T) {
	up := echoUpstream(t)
	for _, on := range []bool{false, true} {
		_, admin := startGateway(t, Config{AdminPprof: on}, Deps{Upstream: mustURL(t, up.URL)})
		resp, err := http.Get(admin + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("admin_pprof=%v: /debug/pprof/ = %d, want %d", on, resp.StatusCode, want)
		}
	}
}

// A client must not be able to strip what the gateway tells the storefront
// by naming those headers in Connection (ReverseProxy drops whatever
// Connection names as hop-by-hop).
func TestProxyKeepsGatewayHeadersNamedInConnection(t *testing.T) {
	up := echoUpstream(t)
	routes := screening.DemoInterceptRoutes()
	for i := range routes {
		routes[i].SetDefaults()
	}
	orders := &fakeOrders{result: orders.Result{Decision: screening.Review, Score: 60}}
	pub, _ := startGateway(t, Config{}, Deps{
		Upstream:  mustURL(t, up.URL),
		Intercept: NewInterceptor(routes, orders, slog.New(slog.DiscardHandler)),
	})
	form := "order_id=DEMO-1&email=ann%40example.com&name=Ann+Lee&country=US&plan=vps-1&amount=12.00&currency=USD&card_bin=411111&card_last4=1111"
	req, _ := http.NewRequest("POST", pub+"/checkout", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Connection", "keep-alive, X-Screening-Decision, X-Screening-Id, X-Screening-Score, X-Request-Id")
	e, resp := getEcho(t, req)
	want := map[string]string{
		"X-Screening-Decision": "review",
		"X-Screening-Id":       "sid(checkout/DEMO-1)", // the checkout namespace (fakeOrders.Submit)
		"X-Screening-Score":    "60",
		"X-Request-Id":         resp.Header.Get("X-Request-Id"),
	}
	for h, v := range want {
		if got := e.Headers.Get(h); got != v || got == "" {
			t.Errorf("upstream saw %s = %q, want %q", h, got, v)
		}
	}
}

// After shutdown_timeout, requests still in flight are cut off (their
// contexts cancelled) before Serve returns, so that main can close Redis and
// the GeoIP databases without handlers still using them.
func TestServeCutsOffRequestsAfterShutdownTimeout(t *testing.T) {
	arrived, cancelled := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(cancelled)
	}))
	t.Cleanup(up.Close)

	cfg := Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Server: ServerConfig{ShutdownTimeout: 50 * time.Millisecond}}
	cfg.SetDefaults()
	gw, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Upstream: mustURL(t, up.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx) }()

	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient() // without the fix, this is what finally ends the request
	go func() {
		req, _ := http.NewRequestWithContext(clientCtx, "GET", "http://"+gw.PublicAddr().String()+"/slow", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	stop()
	if err := <-served; err == nil {
		t.Error("Serve() = nil after the shutdown timeout expired, want the timeout reported")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request was still running 5s after Serve returned")
	}
}

// GeoLocator's errors are logged by screening: they must not carry the
// client's address unmasked.
func TestGeoLocatorErrorHidesAddress(t *testing.T) {
	db, err := geoblock.OpenDB(geoblock.GeoIPConfig{}, geoip.CountryDB(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every lookup now fails
	ip := netip.MustParseAddr("192.0.2.7")
	_, err = GeoLocator{DB: db}.LocateIP(context.Background(), ip)
	if err == nil {
		t.Fatal("LocateIP on a closed database: no error")
	}
	if strings.Contains(err.Error(), ip.String()) {
		t.Errorf("error %q names the client address", err)
	}
}

// Behind a proxy that writes only Forwarded, the client's own
// X-Forwarded-For must not decide its address once forwarded_header pins
// Forwarded.
func TestForwardedHeaderConfig(t *testing.T) {
	up := echoUpstream(t)
	tests := []struct {
		header string
		want   string
	}{
		{"auto", "198.51.100.7"}, // documented: X-Forwarded-For wins when present
		{"forwarded", "192.0.2.7"},
		{"x-forwarded-for", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			seen := make(chan netip.Addr, 1)
			record := func(next http.Handler) (http.Handler, error) {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ip, _ := clientip.FromContext(r.Context())
					seen <- ip
					next.ServeHTTP(w, r)
				}), nil
			}
			cfg := Config{TrustedProxies: []string{"127.0.0.1"}, ForwardedHeader: tt.header}
			pub, _ := startGateway(t, cfg, Deps{Upstream: mustURL(t, up.URL), Geoblock: record})
			req, _ := http.NewRequest("GET", pub+"/", nil)
			req.Header.Set("X-Forwarded-For", "198.51.100.7") // from the client, passed through
			req.Header.Set("Forwarded", "for=192.0.2.7")      // written by the trusted proxy
			getEcho(t, req)
			if got := <-seen; got.String() != tt.want {
				t.Errorf("forwarded_header %s: client IP = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
	bad := Config{ForwardedHeader: "x-real-ip"}
	bad.SetDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "forwarded_header") {
		t.Errorf("Validate(forwarded_header: x-real-ip) = %v, want an error naming the key", err)
	}
}

// TestUnderscoreHeadersDropped: CGI-style stacks read X_Screening_Decision
// as X-Screening-Decision; such names never reach the upstream.
func TestUnderscoreHeadersDropped(t *testing.T) {
	up := echoUpstream(t)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL)})
	req, _ := http.NewRequest("GET", pub+"/", nil)
	req.Header["X_Screening_Decision"] = []string{"accept"}
	req.Header["X_Forwarded_For"] = []string{"203.0.113.9"}
	req.Header.Set("X-Keep-Me", "yes")
	e, _ := getEcho(t, req)
	for k := range e.Headers {
		if strings.Contains(k, "_") {
			t.Errorf("upstream received %s: %v", k, e.Headers[k])
		}
	}
	if e.Headers.Get("X-Keep-Me") != "yes" {
		t.Errorf("a normal header was dropped: %v", e.Headers)
	}
}

// TestRoutingOverridesDropped: IIS, Laminas and older Symfony route by
// X-Original-URL / X-Rewrite-URL and frameworks take the method from
// X-HTTP-Method-Override, so "POST /newsletter" naming /checkout there would
// be an unscreened checkout to them. No spelling of these headers reaches
// the storefront.
func TestRoutingOverridesDropped(t *testing.T) {
	up := echoUpstream(t)
	pub, _ := startGateway(t, Config{}, Deps{Upstream: mustURL(t, up.URL)})
	req, _ := http.NewRequest("POST", pub+"/newsletter", strings.NewReader("email=a%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range []string{"X-Original-URL", "x-rewrite-url", "X-Original-URI", "X-HTTP-Method-Override", "X-Http-Method", "X-Method-Override"} {
		req.Header.Add(h, "/checkout")
	}
	req.Header.Set("X-Keep-Me", "yes")
	e, _ := getEcho(t, req)
	for k := range e.Headers {
		switch strings.ToLower(k) {
		case "x-original-url", "x-rewrite-url", "x-original-uri", "x-http-method-override", "x-http-method", "x-method-override":
			t.Errorf("upstream received %s: %v", k, e.Headers[k])
		}
	}
	if e.Headers.Get("X-Keep-Me") != "yes" {
		t.Errorf("a normal header was dropped: %v", e.Headers)
	}
}

// TestAccessLogClientIP: the access line carries the address the chain
// resolved (behind a trusted proxy, the forwarded one), masked.
func TestAccessLogClientIP(t *testing.T) {
	up := echoUpstream(t)
	var buf testenv.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	pub, admin := startGateway(t, Config{TrustedProxies: []string{"127.0.0.1"}}, Deps{Upstream: mustURL(t, up.URL), Logger: logger})
	req, _ := http.NewRequest("GET", pub+"/x", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" {
			continue
		}
		got[fmt.Sprint(rec["listener"])] = fmt.Sprint(rec["client_ip"])
	}
	want := map[string]string{"public": "198.51.100.0/24", "admin": "127.0.0.0/24"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("access log client_ip on %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
