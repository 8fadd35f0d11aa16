package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
)

// statusWriter records the status and size of a response. It implements
// Unwrap so that http.ResponseController (used by the reverse proxy to flush
// streams and hijack websocket connections) reaches the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps the writer usable by code that type-asserts http.Flusher
// instead of using a ResponseController.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// httpMetrics are the request counters of the listeners.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The children of requests and duration by label values. Looking a
	// child up in its vector hashes every label value and takes a lock on
	// each request (and formats the status code); these caches make it one
	// atomic load and a map read.
	counters  childCache[requestLabels, prometheus.Counter]
	durations childCache[durationLabels, prometheus.Observer]
}

type requestLabels struct {
	listener, route, method string
	code                    int
}

type durationLabels struct {
	listener, route string
}

// count adds one request. method must be bounded (see method).
func (m *httpMetrics) count(listener, route, method string, code int) {
	k := requestLabels{listener: listener, route: route, method: method, code: code}
	m.counters.get(k, func() prometheus.Counter {
		return m.requests.WithLabelValues(listener, route, method, strconv.Itoa(code))
	}).Inc()
}

// observe records how long a request took.
func (m *httpMetrics) observe(listener, route string, d time.Duration) {
	k := durationLabels{listener: listener, route: route}
	m.durations.get(k, func() prometheus.Observer {
		return m.duration.WithLabelValues(listener, route)
	}).Observe(d.Seconds())
}

// childCache is a copy-on-write map: reads take no lock and do not
// allocate; adding a key copies the map, which is rare because every label
// set it caches is bounded (listeners, routes, methods, status codes).
type childCache[K comparable, V any] struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[K]V]
}

func (c *childCache[K, V]) get(k K, newChild func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	var next map[K]V
	if old != nil {
		next = make(map[K]V, len(*old)+1)
		maps.Copy(next, *old)
	} else {
		next = make(map[K]V, 1)
	}
	v := newChild()
	next[k] = v
	c.m.Store(&next)
	return v
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_http_requests_total",
			Help: "HTTP requests served, by listener, route, method and status code.",
		}, []string{"listener", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests (until the handler returns), by listener and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"listener", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// method bounds the method label: anything unusual is "OTHER", so a client
// cannot grow the metric's cardinality.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// accessLogMode is log.access: all | errors | off.
type accessLogMode string

// observe wraps everything a listener serves but header hygiene and client
// IP resolution (plain, allocation-free steps before it): it recovers panics,
// gives the request an id, and records the access log line and metrics.
// routeOf names the route for metrics from the request, keeping labels to a
// fixed small set.
func observe(listener string, logger *slog.Logger, m *httpMetrics, mode accessLogMode, routeOf func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header["X-Request-Id"])
		// One slice for both headers (the upstream logs the same id): it
		// has no room to grow, so an Add on either side copies it.
		idv := []string{id}
		w.Header()["X-Request-Id"] = idv
		r.Header["X-Request-Id"] = idv
		ctx := logctx.With(r.Context(), slog.String("request_id", id))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // the proxy's way to abort a response; net/http handles it
				}
				logger.ErrorContext(ctx, "panic serving request", "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, http.StatusInternalServerError, "internal", "internal error (request "+id+")")
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := routeOf(r)
			elapsed := time.Since(start)
			m.count(listener, route, method(r.Method), status)
			m.observe(listener, route, elapsed)
			if mode == "off" || (mode == "errors" && status < 500) {
				return
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			// Resolved by clientip's middleware on the public side; the
			// admin side sits behind no proxy, so its peer is the client.
			ip, ok := clientip.FromContext(r.Context())
			if !ok {
				ip = peerAddr(r)
			}
			logger.LogAttrs(ctx, level, "request",
				slog.String("listener", listener),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", elapsed),
				slog.String("client_ip", logctx.MaskIP(ip)),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// requestID keeps a caller's id when it is one sane token of 8 to 64
// characters of [A-Za-z0-9._-] (so a load balancer's id ties the logs
// together) and makes a new one otherwise: two lines, which a storefront
// may join into one "a, b" value, are not one token, and anything longer or
// wider could carry markup or header syntax into the storefront's logs and
// pages.
func requestID(lines []string) string {
	in := ""
	if len(lines) == 1 {
		in = lines[0]
	}
	if n := len(in); n >= 8 && n <= 64 {
		ok := true
		for i := range n {
			c := in[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				ok = false
				break
			}
		}
		if ok {
			return in
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// scrubHeaders removes request headers a storefront could read to see
// another request than the one the gateway judged:
//   - names containing an underscore, as nginx does by default
//     (underscores_in_headers off). Stacks that map header names to
//     variables (CGI, Rack, WSGI, PHP-FPM) turn "X_Forwarded_For" and
//     "X-Forwarded-For" into the same variable, so a client could otherwise
//     smuggle a forwarded address or a screening decision past the gateway,
//     which strips only the dashed names;
//   - routing overrides (routingOverrides): IIS URL Rewrite, Laminas/Zend
//     and older Symfony route by X-Original-URL or X-Rewrite-URL, so
//     "POST /newsletter" with "X-Original-URL: /checkout" would be the
//     checkout to them and nothing to the gateway; Symfony and others take
//     the method from X-HTTP-Method-Override. The gateway matches routes and
//     methods on the request line only, so the storefront must too.
func scrubHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			if strings.IndexByte(k, '_') >= 0 {
				delete(r.Header, k)
			}
		}
		for _, k := range routingOverrides {
			delete(r.Header, k)
		}
		next.ServeHTTP(w, r)
	})
}

// routingOverrides (canonical form) are request headers that frameworks
// read in place of the request line's path or method.
var routingOverrides = [...]string{
	"X-Original-Url",
	"X-Rewrite-Url",
	"X-Original-Uri",
	"X-Http-Method-Override",
	"X-Http-Method",
	"X-Method-Override",
}
