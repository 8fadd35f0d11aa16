package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

// orderSubmitter screens an order of an owner (screening's *Orders).
type orderSubmitter interface {
	Submit(ctx context.Context, owner orders.Owner, o screening.Order) (orders.Result, error)
}

// screeningHeaders (in canonical form) are what the gateway tells the
// storefront about a screened checkout. They are removed from every incoming request: a client
// that sent "X-Screening-Decision: accept" itself must not be believed.
var screeningHeaders = []string{"X-Screening-Id", "X-Screening-Decision", "X-Screening-Score"}

// NewInterceptor screens the storefront's checkout routes before they are
// forwarded. A rejected checkout never reaches the storefront; an accepted
// or held one is forwarded byte for byte with the screening headers. When
// screening cannot decide (Redis down), the checkout is refused with 503:
// forwarding it unscreened would activate servers nobody checked.
//
// A route covers its path and every path below it, by the matching rule of
// routeKey, and every method but GET, HEAD and OPTIONS (which carry no body
// past the public chain's first step): PUT, PATCH, DELETE and any other
// method is screened with the route's mapping, or refused when its body
// does not map. The route's method is not part of the match.
//
// A route with missing_details: defer forwards a checkout whose body has
// no billing country with "X-Screening-Decision: deferred" and nothing
// else (no screening id, nothing stored): the billing system's module
// screens the order it creates (see NewCountingInterceptor).
func NewInterceptor(routes []screening.InterceptRoute, svc orderSubmitter, logger *slog.Logger) func(http.Handler) http.Handler {
	// Counted, but on no registry: the tests' and benchmarks' interceptors.
	return newInterceptor(routes, svc, logger, newDeferredCounter())
}

// NewCountingInterceptor is NewInterceptor with the deferred checkouts
// counted in gateway_checkouts_deferred_total{route} on reg.
func NewCountingInterceptor(routes []screening.InterceptRoute, svc orderSubmitter, logger *slog.Logger, reg prometheus.Registerer) (func(http.Handler) http.Handler, error) {
	deferred := newDeferredCounter()
	if err := reg.Register(deferred); err != nil {
		return nil, fmt.Errorf("registering the deferred checkouts counter: %w", err)
	}
	return newInterceptor(routes, svc, logger, deferred), nil
}

func newDeferredCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_checkouts_deferred_total",
		Help: "Checkouts forwarded unscreened because their body carries no billing country (routes with missing_details: defer), by route (its profile, or its first path).",
	}, []string{"route"})
}

func newInterceptor(routes []screening.InterceptRoute, svc orderSubmitter, logger *slog.Logger, deferred *prometheus.CounterVec) func(http.Handler) http.Handler {
	index := newRouteIndex(routes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, h := range screeningHeaders {
				delete(r.Header, h)
			}
			cands := index.lookup(routeKey(r.URL.Path))
			if len(cands) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			ct := strings.Join(r.Header.Values("Content-Type"), ", ")
			if bodyless(r.Method) {
				// The first step of the chain refused any body. WordPress's
				// REST API takes the method from ?_method= (the header
				// spellings are scrubbed already): a GET there could be a
				// checkout POST with its fields in the query.
				for _, c := range cands {
					// An ambiguous query counts: the storefront may read
					// the copy that names the checkout.
					if c.m.MustMatch(r.URL.RawQuery) {
						stripUpgrade(r.Header)
						if hasMethodOverride(r.URL.RawQuery) {
							checkoutError(w, r, logger, fmt.Errorf("%w: _method in the query of a checkout route", screening.ErrInvalidInput))
							return
						}
						break
					}
				}
				next.ServeHTTP(w, r)
				return
			}
			ctx := r.Context()
			var body []byte
			if needsBody(cands, r.URL.RawQuery, ct) {
				if ce := r.Header.Values("Content-Encoding"); len(ce) > 1 || len(ce) == 1 && !strings.EqualFold(ce[0], "identity") {
					// The order is read from the bytes as sent; a storefront
					// that decompresses request bodies would act on another
					// order than the one screened.
					checkoutError(w, r, logger, fmt.Errorf("%w: a checkout body must not be encoded (Content-Encoding: %s)", errUnsupportedMediaType, strings.Join(ce, ", ")))
					return
				}
				b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, screening.MaxInspectBytes))
				if err != nil {
					var mbe *http.MaxBytesError
					if !errors.As(err, &mbe) {
						// The client went away or sent a broken body.
						writeError(w, r, http.StatusBadRequest, "bad_request", "The request body could not be read.")
						return
					}
					checkoutError(w, r, logger, err)
					return
				}
				body = b
				reframe(r, body)
			}
			route, m, ok, err := matchRoute(cands, r.URL.RawQuery, ct, body)
			if err != nil {
				checkoutError(w, r, logger, err)
				return
			}
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			// No tunnel out of a checkout path: a websocket (or h2c) there
			// would carry later requests past the screening.
			stripUpgrade(r.Header)
			if r.Trailer != nil || r.Header["Trailer"] != nil {
				// Headers after the body would reach the storefront after
				// the screening read the request.
				checkoutError(w, r, logger, fmt.Errorf("%w: a checkout must not declare trailers", screening.ErrInvalidInput))
				return
			}
			if hasMethodOverride(r.URL.RawQuery) {
				checkoutError(w, r, logger, fmt.Errorf("%w: _method in the query of a checkout route", screening.ErrInvalidInput))
				return
			}
			if len(m.Batch) > 0 {
				if err := m.CheckBatch(ct, body); err != nil {
					checkoutError(w, r, logger, err)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if len(body) > screening.MaxOrderBytes {
				checkoutError(w, r, logger, &http.MaxBytesError{Limit: screening.MaxOrderBytes})
				return
			}
			ip, _ := clientip.FromContext(ctx)
			// Every Content-Type sent: with two, parsers may read either.
			order, err := route.MapOrder(ct, r.URL.RawQuery, r.Header.Values("Cookie"), body, ip, r.UserAgent(), r.Header.Get("Accept-Language"))
			if errors.Is(err, screening.ErrDeferred) && route.MissingDetails == screening.MissingDetailsDefer {
				// The billing system places this order with details the
				// edge does not see (a client who is logged in); its
				// module screens that order and holds activation.
				label := routeLabel(route)
				deferred.WithLabelValues(label).Inc()
				logger.InfoContext(ctx, "checkout deferred to the billing system's module", "route", label, "reason", err.Error())
				reframe(r, body)
				r.Header.Set("X-Screening-Decision", decisionDeferred)
				next.ServeHTTP(w, r)
				return
			}
			if err != nil {
				checkoutError(w, r, logger, err)
				return
			}
			ctx = logctx.With(ctx, slog.String("order_id", order.OrderID))
			// A visitor chooses the order_id of a checkout: it lives in
			// the checkout namespace, apart from every API key's orders.
			res, err := svc.Submit(ctx, orders.CheckoutOwner, order)
			if err != nil {
				checkoutError(w, r.WithContext(ctx), logger, err)
				return
			}
			if res.Decision == screening.Reject {
				logger.InfoContext(ctx, "checkout rejected", "score", res.Score)
				writeError(w, r, http.StatusForbidden, "order_rejected",
					"We cannot accept this order. If you think this is a mistake, contact the shop's support and quote reference "+res.OrderID+".")
				return
			}
			reframe(r, body)
			r.Header.Set("X-Screening-Id", res.ScreeningID)
			r.Header.Set("X-Screening-Decision", string(res.Decision))
			r.Header.Set("X-Screening-Score", strconv.Itoa(res.Score))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// reframe gives r the body the gateway read, with its length: forwarded
// as read, no chunks, no trailers.
func reframe(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
}

// decisionDeferred is the X-Screening-Decision of a checkout forwarded
// unscreened under missing_details: defer.
const decisionDeferred = "deferred"

// routeLabel names a route in metrics and logs: its profile, or its first
// path.
func routeLabel(r *screening.InterceptRoute) string {
	if r.Profile != "" {
		return r.Profile
	}
	for _, m := range r.Matchers() {
		if len(m.Paths) > 0 {
			return m.Paths[0]
		}
	}
	return ""
}

// checkoutError answers a checkout that could not be screened, in the form
// the customer's client asked for.
func checkoutError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	id := w.Header().Get("X-Request-Id")
	status, e := present(err, id)
	if status >= 500 {
		logger.ErrorContext(r.Context(), "checkout could not be screened", "error", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		e.Message = "We cannot take orders right now. Please try again in a minute (request " + id + ")."
	}
	if wantsJSON(r) {
		writeJSONError(w, status, e)
		return
	}
	msg := e.Message
	switch status {
	case http.StatusBadRequest:
		msg = "Please check your details and try again: " + e.Message
	case http.StatusConflict:
		// The shop's order number was used before with other details (or
		// from another network): a browser's resubmission of an old form.
		msg = "This order was already placed with different details. Please go back to the shop and start a new order."
	}
	writeError(w, r, status, e.Code, msg)
}

// routeRef is one matcher of one route.
type routeRef struct {
	route *screening.InterceptRoute
	m     screening.Matcher
}

// routeIndex finds the routes covering a canonical path. It holds every
// route path and each of its ancestors ("/api" for "/api/checkout"; an
// empty list for a path that is not itself a route), so that the walk
// down a request path stops at its first segment that leads to no route:
// one map lookup for an ordinary proxied path, and no allocation.
type routeIndex map[string][]routeRef

func newRouteIndex(routes []screening.InterceptRoute) routeIndex {
	ix := routeIndex{}
	routes = slices.Clone(routes) // the index points into its own copy
	for i := range routes {
		for _, m := range routes[i].Matchers() {
			for _, p := range m.Paths {
				key := routeKey(p)
				ix[key] = append(ix[key], routeRef{route: &routes[i], m: m})
				for j := strings.LastIndexByte(key, '/'); j > 0; j = strings.LastIndexByte(key[:j], '/') {
					if _, ok := ix[key[:j]]; !ok {
						ix[key[:j]] = nil
					}
				}
			}
		}
	}
	return ix
}

// lookup returns the matchers whose path is key or above it at a segment
// boundary, the longest path first.
func (ix routeIndex) lookup(key string) []routeRef {
	if len(ix) == 0 {
		return nil
	}
	var found [][]routeRef
	if rs := ix["/"]; len(rs) > 0 {
		found = append(found, rs)
	}
	for i := 1; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			continue
		}
		rs, ok := ix[key[:i]]
		if !ok {
			break
		}
		if len(rs) > 0 {
			found = append(found, rs)
		}
	}
	var out []routeRef
	for i := len(found) - 1; i >= 0; i-- {
		out = append(out, found[i]...)
	}
	return out
}

// needsBody reports whether the request's body must be read: a candidate
// matches by path or query alone (the checkout is screened), or its
// parameters may be in a form body.
func needsBody(cands []routeRef, rawQuery, contentType string) bool {
	for _, c := range cands {
		if c.m.NeedsBody(contentType) {
			return true
		}
		if ok, err := c.m.Match(rawQuery, "", nil); ok || err != nil {
			return true
		}
	}
	return false
}

// matchRoute returns the route and matcher the request is the checkout of.
// Two different routes matching one request is refused: which one the
// storefront acts on cannot be told.
func matchRoute(cands []routeRef, rawQuery, contentType string, body []byte) (*screening.InterceptRoute, screening.Matcher, bool, error) {
	var route *screening.InterceptRoute
	var m screening.Matcher
	for _, c := range cands {
		ok, err := c.m.Match(rawQuery, contentType, body)
		if err != nil {
			return nil, screening.Matcher{}, false, err
		}
		if !ok {
			continue
		}
		switch {
		case route == nil:
			route, m = c.route, c.m
		case c.route != route || (len(c.m.Batch) > 0) != (len(m.Batch) > 0):
			return nil, screening.Matcher{}, false, fmt.Errorf("%w: the request matches two checkout routes; the storefront could act on either", screening.ErrInvalidInput)
		}
	}
	return route, m, route != nil, nil
}

// hasMethodOverride reports whether the query names _method (any PHP
// spelling), which WordPress's REST API takes as the request's method.
func hasMethodOverride(rawQuery string) bool {
	return rawQuery != "" && (screening.Matcher{MatchQuery: map[string]string{"_method": screening.AnyValue}}).MustMatch(rawQuery)
}
