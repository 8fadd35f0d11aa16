package gateway

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/screening"
)

// Config is the gateway's own part of the configuration: the two listeners,
// the upstream storefront and the timeouts around them. Its keys sit at the
// top level of the file (listen, upstream, ...).
type Config struct {
	// Listen is the public side: storefront traffic.
	Listen string `yaml:"listen"`
	// AdminListen serves the API, console, health and metrics. Keep it off
	// the internet.
	AdminListen string `yaml:"admin_listen"`
	// PublicURL is how customers reach the gateway, for links in mails and
	// answers (email verification links: internal/emailverify).
	PublicURL string `yaml:"public_url"`
	// Upstream is the storefront's base URL. Empty: the built-in demo
	// storefront.
	Upstream string `yaml:"upstream"`
	// TrustedProxies are the load balancers whose X-Forwarded-For and
	// Forwarded headers are believed (CIDRs or addresses).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ForwardedHeader is the header walked behind a trusted proxy: auto
	// (X-Forwarded-For when present, else Forwarded), x-forwarded-for or
	// forwarded. The proxy passes the header it does not manage through
	// from the client, so behind a proxy that writes only Forwarded, auto
	// would believe a client's own X-Forwarded-For: pin it to forwarded
	// (which also stops believing X-Forwarded-Proto and X-Forwarded-Host).
	ForwardedHeader string `yaml:"forwarded_header"`
	// AdminPprof serves Go's profiler under /debug/pprof/ on the admin
	// listener, for finding where CPU and memory go under real load.
	AdminPprof bool `yaml:"admin_pprof"`

	Server ServerConfig `yaml:"server"`
	Proxy  ProxyConfig  `yaml:"proxy"`
}

// ServerConfig bounds what a client may cost the listeners.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request; large uploads need room.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout is 0 (none) by default so that streamed responses and
	// websockets through the proxy are not cut.
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// ProxyConfig governs the connection to the upstream storefront.
type ProxyConfig struct {
	DialTimeout           time.Duration `yaml:"dial_timeout"`
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	IdleConnTimeout       time.Duration `yaml:"idle_conn_timeout"`
	// MaxIdleConnsPerHost is the keep-alive pool to the upstream; the
	// standard library's default of 2 makes every busy gateway re-dial.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// WebsocketPaths are the paths where a websocket upgrade is passed on
	// (exact, or a prefix ending in "/"); default none. No other upgrade is
	// ever passed on: after a 101 the proxy copies bytes both ways and no
	// later request on the connection is geo-blocked or screened.
	WebsocketPaths []string `yaml:"websocket_paths"`
}

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:8081"
	}
	if c.ForwardedHeader == "" {
		c.ForwardedHeader = "auto"
	}
	s := &c.Server
	setDur(&s.ReadHeaderTimeout, 10*time.Second)
	setDur(&s.ReadTimeout, 5*time.Minute)
	setDur(&s.IdleTimeout, 2*time.Minute)
	setDur(&s.ShutdownTimeout, 15*time.Second)
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 64 << 10
	}
	p := &c.Proxy
	setDur(&p.DialTimeout, 5*time.Second)
	setDur(&p.ResponseHeaderTimeout, 30*time.Second)
	setDur(&p.IdleConnTimeout, 90*time.Second)
	if p.MaxIdleConnsPerHost == 0 {
		p.MaxIdleConnsPerHost = 256
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports every bad value.
func (c *Config) Validate() error {
	var errs []error
	for key, addr := range map[string]string{"listen": c.Listen, "admin_listen": c.AdminListen} {
		if err := validListenAddr(addr); err != nil {
			errs = append(errs, configerr.Field(key, addr, err.Error()))
		}
	}
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		errs = append(errs, configerr.Field("admin_listen", c.AdminListen, "must differ from listen"))
	}
	if c.PublicURL != "" {
		if err := validHTTPURL(c.PublicURL); err != nil {
			errs = append(errs, configerr.Field("public_url", c.PublicURL, err.Error()))
		}
	}
	if c.Upstream != "" {
		if err := validHTTPURL(c.Upstream); err != nil {
			errs = append(errs, configerr.Field("upstream", c.Upstream, err.Error()))
		}
	}
	if _, err := clientip.ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, configerr.Field("trusted_proxies", nil, err.Error()))
	}
	if _, err := clientip.ParseHeader(c.ForwardedHeader); err != nil {
		errs = append(errs, configerr.Field("forwarded_header", c.ForwardedHeader, "must be auto, x-forwarded-for or forwarded"))
	}
	durs := map[string]time.Duration{
		"server.read_header_timeout": c.Server.ReadHeaderTimeout, "server.read_timeout": c.Server.ReadTimeout,
		"server.write_timeout": c.Server.WriteTimeout, "server.idle_timeout": c.Server.IdleTimeout,
		"server.shutdown_timeout": c.Server.ShutdownTimeout, "proxy.dial_timeout": c.Proxy.DialTimeout,
		"proxy.response_header_timeout": c.Proxy.ResponseHeaderTimeout, "proxy.idle_conn_timeout": c.Proxy.IdleConnTimeout,
	}
	for key, d := range durs {
		if d < 0 {
			errs = append(errs, configerr.Field(key, d, "must not be negative"))
		}
	}
	if c.Server.MaxHeaderBytes < 1024 {
		errs = append(errs, configerr.Field("server.max_header_bytes", c.Server.MaxHeaderBytes, "must be at least 1024"))
	}
	for _, p := range c.Proxy.WebsocketPaths {
		if err := validWebsocketPath(p); err != nil {
			errs = append(errs, configerr.Field("proxy.websocket_paths", p, err.Error()))
		}
	}
	if c.Proxy.MaxIdleConnsPerHost < 0 {
		errs = append(errs, configerr.Field("proxy.max_idle_conns_per_host", c.Proxy.MaxIdleConnsPerHost, "must not be negative"))
	}
	return joinErrs(errs)
}

func validListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errorString("must be host:port or :port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errorString("port must be a number from 0 to 65535")
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return errorString("host must be an IP address, localhost or empty")
	}
	return nil
}

// validWebsocketPath accepts a path in the canonical form of routeKey (a
// request must arrive in that form to be upgraded), optionally ending in
// "/" for a prefix, outside /_gateway/.
func validWebsocketPath(p string) error {
	exact := strings.TrimSuffix(p, "/")
	switch {
	case exact == "":
		return errorString("must be a path below /: / would pass upgrades everywhere")
	case !isRouteKey(exact):
		return errorString("must be a clean lower-case absolute path (no //, dot segments, trailing dots or spaces, ;, \\, ?, #)")
	case underRoute(exact, gatewayPrefix):
		return errorString("must not be under /_gateway/")
	}
	return nil
}

// CheckWebsocketPaths reports the proxy.websocket_paths entries where no
// upgrade would ever pass: under or above a checkout route, or exempt from
// the geo-block (exempt may be nil). Listing them is a mistake the operator
// should hear about at start-up, not find in a failing websocket.
func CheckWebsocketPaths(paths []string, routes []screening.InterceptRoute, exempt func(path string) bool) error {
	var errs []error
	for _, p := range paths {
		key, prefix := strings.CutSuffix(p, "/")
		for i, rt := range routes {
			for _, m := range rt.Matchers() {
				if len(m.MatchQuery) > 0 {
					continue // upgrades are stripped only from requests that match the query
				}
				for _, path := range m.Paths {
					if r := routeKey(path); underRoute(key, r) || prefix && underRoute(r, key) {
						errs = append(errs, configerr.Field("proxy.websocket_paths", p, fmt.Sprintf("overlaps the checkout route intercept[%d] (%s): no upgrade is passed on a checkout path", i, path)))
					}
				}
			}
		}
		if exempt != nil && (exempt(p) || exempt(key)) {
			errs = append(errs, configerr.Field("proxy.websocket_paths", p, "is exempt from the geo-block (geoblock.exempt_paths): no upgrade is passed on an exempt path"))
		}
	}
	return joinErrs(errs)
}

func validHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorString("must be an absolute http:// or https:// URL")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }
