package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkInterceptOrdinaryPath is the interceptor's cost on a request that
// is not a checkout: the route lookup every proxied request pays.
func BenchmarkInterceptOrdinaryPath(b *testing.B) {
	routes := demoRoutes()
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := NewInterceptor(routes, &fakeOrders{}, slog.New(slog.DiscardHandler))(noop)
	req := httptest.NewRequest(http.MethodGet, "/static/css/shop.css", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkPublicChainProxied is the whole public chain (header hygiene,
// client IP, observe, customer pages, interception, proxy) for an ordinary
// GET, against a loopback upstream.
func BenchmarkPublicChainProxied(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	routes := demoRoutes()
	cfg := Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0"}
	cfg.SetDefaults()
	logger := slog.New(slog.DiscardHandler)
	u, _ := http.NewRequest(http.MethodGet, up.URL, nil)
	g, err := New(cfg, Deps{
		Logger:    logger,
		Registry:  prometheus.NewRegistry(),
		Upstream:  u.URL,
		AccessLog: "off",
		Intercept: NewInterceptor(routes, &fakeOrders{}, logger),
		Customer:  http.NotFoundHandler(),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := g.public.Handler
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/static/css/shop.css", nil)
		req.RemoteAddr = "192.0.2.7:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkEdgeStepsOrdinaryPath is what the public edge's own steps
// (hygiene, gateway pages, upgrade and trailer filters) add to an ordinary
// GET, without the proxy.
func BenchmarkEdgeStepsOrdinaryPath(b *testing.B) {
	logger := slog.New(slog.DiscardHandler)
	var h http.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h = dropTrailers(h)
	h = filterUpgrades(newWebsocketPaths([]string{"/ws"}), func(string) bool { return false }, h)
	h = gatewayPages("/_gateway/blocked", nil, h)
	h, err := refuseAmbiguousRequests(logger, prometheus.NewRegistry(), h)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/static/css/shop.css", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
