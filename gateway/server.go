package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/clientip"
)

// Deps are the parts the gateway is built from. main constructs them; New
// only arranges them in order.
type Deps struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Upstream is the storefront to proxy to.
	Upstream *url.URL
	// Geoblock wraps the public chain after client IP resolution. Nil
	// means no geo-blocking.
	Geoblock func(next http.Handler) (http.Handler, error)
	// Customer serves /_gateway/... on the public side. May be nil: then
	// every path there is 404 (405 for the policy page's other methods).
	// Nothing under /_gateway/ is ever proxied either way.
	Customer http.Handler
	// PolicyPath is the path on this gateway where the geo-block answers
	// GET and HEAD with its policy page ("/_gateway/blocked"), or "" when
	// it serves none there. Other methods on it are 405.
	PolicyPath string
	// GeoExempt reports the geo-block's exempt paths, where no upgrade is
	// passed on. Nil: none.
	GeoExempt func(path string) bool
	// Intercept screens checkout routes before they reach the proxy. May be
	// nil.
	Intercept func(next http.Handler) http.Handler
	// Ready lists the dependencies /readyz checks.
	Ready []ReadyCheck
	// API serves /api/ on the admin side; Console serves /console/.
	API, Console http.Handler
	// AccessLog is log.access: all | errors | off.
	AccessLog string
}

// Gateway is the two listeners and what they serve.
type Gateway struct {
	cfg      Config
	logger   *slog.Logger
	public   *http.Server
	admin    *http.Server
	publicLn net.Listener
	adminLn  net.Listener
}

// New builds the public and admin handler chains. The order of the public
// chain is the product's contract (PRODUCT.md section 3): client IP, then
// geo-block, then the gateway's own pages, then order interception, then
// the reverse proxy.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if deps.Upstream == nil {
		return nil, errors.New("building gateway: no upstream")
	}
	trusted, err := clientip.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("parsing trusted_proxies: %w", err)
	}
	if len(trusted) == 0 {
		deps.Logger.Warn("trusted_proxies is empty: X-Forwarded-For and Forwarded headers are ignored and removed; the socket peer is the client IP")
	}
	header, err := clientip.ParseHeader(cfg.ForwardedHeader)
	if err != nil {
		return nil, fmt.Errorf("parsing forwarded_header: %w", err)
	}
	resolver := clientip.NewResolver(trusted, clientip.WithHeader(header))

	// Innermost first: proxy <- upgrade and trailer filters <- intercept
	// <- gateway pages <- geoblock <- observe <- client IP <- hygiene.
	var public http.Handler = newProxy(deps.Upstream, cfg.Proxy, deps.Logger)
	public = dropTrailers(public)
	public = filterUpgrades(newWebsocketPaths(cfg.Proxy.WebsocketPaths), deps.GeoExempt, public)
	if deps.Intercept != nil {
		public = deps.Intercept(public)
	}
	public = gatewayPages(deps.PolicyPath, deps.Customer, public)
	if deps.Geoblock != nil {
		if public, err = deps.Geoblock(public); err != nil {
			return nil, fmt.Errorf("building geo-block: %w", err)
		}
	}
	metrics, err := newHTTPMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("registering HTTP metrics: %w", err)
	}
	mode := accessLogMode(deps.AccessLog)
	observed := func(h http.Handler) http.Handler {
		return observe("public", deps.Logger, metrics, mode, publicRoute, h)
	}
	// The client IP is resolved once, outside observe, so the access log
	// line reads the same address the geo-block judged. A chain that cannot
	// be attributed is answered 400 there, with a request id, an access log
	// line and metrics of its own, and nothing inside runs.
	refuse := refuseUnattributable(deps.Logger)
	public = resolver.Middleware(observed(public), func(w http.ResponseWriter, r *http.Request, err error) {
		observed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { refuse(w, r, err) })).ServeHTTP(w, r)
	})
	public = scrubHeaders(public)
	if public, err = refuseAmbiguousRequests(deps.Logger, deps.Registry, public); err != nil {
		return nil, fmt.Errorf("registering the public refusal metric: %w", err)
	}
	admin := withRouteTemplate(observe("admin", deps.Logger, metrics, mode, adminRouteTemplate,
		adminMux(deps.Ready, deps.Registry, deps.API, deps.Console, cfg.AdminPprof)))

	errLog := slog.NewLogLogger(deps.Logger.Handler(), slog.LevelWarn)
	server := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
			ReadTimeout:       cfg.Server.ReadTimeout,
			WriteTimeout:      cfg.Server.WriteTimeout,
			IdleTimeout:       cfg.Server.IdleTimeout,
			MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
			ErrorLog:          errLog,
		}
	}
	return &Gateway{cfg: cfg, logger: deps.Logger, public: server(public), admin: server(admin)}, nil
}

// gatewayPages keeps the gateway's namespace off the proxy: every path under
// /_gateway/ by the matching rule of routeKey ("/_GATEWAY/x",
// "//_gateway/x" too) goes to the customer pages, or is answered here, and
// never reaches the storefront, whatever the method. The geo-block answers
// GET and HEAD on its policy path itself and exempts every method there, so
// a blocked visitor's POST to it arrives here: it gets 405, wherever the
// policy path is, never the storefront.
func gatewayPages(policyPath string, customer, next http.Handler) http.Handler {
	policyKey := ""
	if policyPath != "" {
		policyKey = routeKey(policyPath)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := routeKey(r.URL.Path)
		if key == policyKey && r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "This page can only be read.")
			return
		}
		if !underRoute(key, gatewayPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		if customer != nil {
			customer.ServeHTTP(w, r)
			return
		}
		writeError(w, r, http.StatusNotFound, "not_found", "There is no page at this address.")
	})
}

func publicRoute(r *http.Request) string {
	if isGatewayPath(r.URL.Path) {
		return "gateway"
	}
	return "proxy"
}

// peerAddr is the admin side's client address: it sits behind no proxy.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Listen binds both listeners, so that a port in use is reported (naming the
// address) before anything is served.
func (g *Gateway) Listen() error {
	var lc net.ListenConfig
	pub, err := lc.Listen(context.Background(), "tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (listen): %w", g.cfg.Listen, err)
	}
	adm, err := lc.Listen(context.Background(), "tcp", g.cfg.AdminListen)
	if err != nil {
		pub.Close()
		return fmt.Errorf("listening on %s (admin_listen): %w", g.cfg.AdminListen, err)
	}
	g.publicLn, g.adminLn = pub, adm
	return nil
}

// PublicAddr is the bound public address (useful with port 0).
func (g *Gateway) PublicAddr() net.Addr { return g.publicLn.Addr() }

// AdminAddr is the bound admin address.
func (g *Gateway) AdminAddr() net.Addr { return g.adminLn.Addr() }

// Serve serves until ctx is cancelled, then shuts down within
// server.shutdown_timeout: in-flight requests finish, new ones are refused.
func (g *Gateway) Serve(ctx context.Context) error {
	if g.publicLn == nil {
		if err := g.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- serve(g.public, g.publicLn, "public") }()
	go func() { errc <- serve(g.admin, g.adminLn, "admin") }()

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	g.logger.Info("shutting down", "timeout", g.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	err := errors.Join(g.public.Shutdown(sctx), g.admin.Shutdown(sctx))
	if err != nil {
		// Requests still running after the timeout (a stream, a hung
		// upstream) get their connections closed, which cancels their
		// contexts: main closes Redis and the GeoIP databases next, and
		// nothing should still be using them.
		err = fmt.Errorf("shutting down: %w", errors.Join(err, g.public.Close(), g.admin.Close()))
	}
	g.logger.Info("servers stopped", "took", time.Since(start))
	return errors.Join(first, err)
}

func serve(s *http.Server, ln net.Listener, name string) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s listener: %w", name, err)
	}
	return nil
}
