package gateway

import (
	"context"
	"errors"
	"io"
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
			if pr.Out.Body != nil && pr.Out.ContentLength > 0 {
				pr.Out.Body = &declaredLengthBody{rc: pr.Out.Body, left: pr.Out.ContentLength}
			}
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
		// httputil's own messages ("read error during body copy") go to
		// the gateway's log with the rest, not to the standard logger.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
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

// declaredLengthBody gives the transport a request body of exactly its
// Content-Length, which is what the storefront reads, and then io.EOF
// without touching the client's body again.
//
// Without it, a storefront's answer could be cut off mid-body under load
// (found by TestServeProfiles; golang/go#40747 describes the same): having
// copied the declared length, the transport reads the body once more to
// check that nothing follows; net/http's server closes an inbound body
// when the response headers go out; when the storefront has already
// answered and the gateway begun to relay it, that extra read fails with
// "invalid Read on closed Body", and the transport drops the connection the
// answer is still arriving on.
type declaredLengthBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *declaredLengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF // the client sent less than it declared
	}
	return n, err
}

func (b *declaredLengthBody) Close() error { return b.rc.Close() }

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
