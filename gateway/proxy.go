package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// statusClientClosedRequest is nginx's 499: the client went away before the
// upstream answered. Nothing is written; it shows up in logs and metrics.
const statusClientClosedRequest = 499

// newProxy builds the reverse proxy to the storefront. The transport is a
// clone of the default one with a pool sized for a busy gateway (the
// standard two idle connections per host would make every burst re-dial).
func newProxy(target *url.URL, cfg ProxyConfig, logger *slog.Logger) *httputil.ReverseProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
	tr.IdleConnTimeout = cfg.IdleConnTimeout
	tr.MaxIdleConnsPerHost = cfg.MaxIdleConnsPerHost
	tr.MaxIdleConns = 0 // no global cap: per-host is the bound that matters
	// Don't let the proxy ask for gzip and unpack it: bodies pass through as
	// the storefront sent them.
	tr.DisableCompression = true

	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			setForwardingHeaders(pr)
			// The headers the gateway set on the incoming request (after
			// removing any client copy) go out as set: ReverseProxy drops
			// every header the client names in Connection as hop-by-hop,
			// so "Connection: X-Screening-Decision" would otherwise strip
			// the decision from a screened checkout.
			for _, h := range gatewayHeaders {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		// A 101 opens a tunnel only for an allowed websocket handshake
		// (see upgrade.go).
		ModifyResponse: refuseUnrequestedSwitch,
		Transport:      tr,
		BufferPool:     newBufferPool(),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := proxyErrorStatus(r.Context(), err)
			if status == statusClientClosedRequest {
				w.WriteHeader(status)
				return
			}
			logger.WarnContext(r.Context(), "upstream request failed", "status", status, "error", err)
			msg := "The shop is not reachable right now. Please try again in a moment."
			if status == http.StatusGatewayTimeout {
				msg = "The shop took too long to answer. Please try again in a moment."
			}
			writeError(w, r, status, "upstream_unavailable", msg+" (request "+w.Header().Get("X-Request-Id")+")")
		},
	}
}

// gatewayHeaders (canonical form) are set by the gateway itself on the
// request it forwards: the request id, the geo-block's country and the
// screening result.
var gatewayHeaders = append([]string{"X-Request-Id", "X-Client-Country"}, screeningHeaders...)

// proxyErrorStatus maps a transport error to the status the client sees: a
// timeout is 504, a client that left is 499, anything else 502.
func proxyErrorStatus(ctx context.Context, err error) int {
	if errors.Is(ctx.Err(), context.Canceled) {
		return statusClientClosedRequest
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// proxyBufferSize is the size of the buffers that copy response bodies; the
// same as ReverseProxy's own default.
const proxyBufferSize = 32 << 10

// bufferPool reuses the body copy buffers. Without one, ReverseProxy
// allocates 32 KiB for every response: under load that was three quarters of
// all bytes the gateway allocated, and the garbage collector's work to match
// (see docs/BENCHMARKS.md). It pools array pointers, which go into an
// interface without an allocation, where a []byte would be boxed on each Put.
type bufferPool struct {
	pool sync.Pool
}

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return new([proxyBufferSize]byte) }}}
}

// Get implements httputil.BufferPool.
func (p *bufferPool) Get() []byte { return p.pool.Get().(*[proxyBufferSize]byte)[:] }

// Put implements httputil.BufferPool.
func (p *bufferPool) Put(b []byte) {
	if cap(b) < proxyBufferSize {
		return // not one of ours
	}
	p.pool.Put((*[proxyBufferSize]byte)(b[:proxyBufferSize]))
}
