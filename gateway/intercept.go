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
func NewInterceptor(routes []screening.InterceptRoute, svc orderSubmitter, logger *slog.Logger) func(http.Handler) http.Handler {
	index := newRouteIndex(routes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, h := range screeningHeaders {
				delete(r.Header, h)
			}
			route, ok := index.lookup(routeKey(r.URL.Path))
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			// No tunnel out of a checkout path: a websocket (or h2c) there
			// would carry later requests past the screening.
			stripUpgrade(r.Header)
			if bodyless(r.Method) {
				// The first step of the chain refused any body.
				next.ServeHTTP(w, r)
				return
			}
			if r.Trailer != nil || r.Header["Trailer"] != nil {
				// Headers after the body would reach the storefront after
				// the screening read the request.
				checkoutError(w, r, logger, fmt.Errorf("%w: a checkout must not declare trailers", screening.ErrInvalidInput))
				return
			}
			if ce := r.Header.Values("Content-Encoding"); len(ce) > 1 || len(ce) == 1 && !strings.EqualFold(ce[0], "identity") {
				// The order is read from the bytes as sent; a storefront
				// that decompresses request bodies would act on another
				// order than the one screened.
				checkoutError(w, r, logger, fmt.Errorf("%w: a checkout body must not be encoded (Content-Encoding: %s)", errUnsupportedMediaType, strings.Join(ce, ", ")))
				return
			}
			ctx := r.Context()
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, screening.MaxOrderBytes))
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
			ip, _ := clientip.FromContext(ctx)
			// Every Content-Type sent: with two, parsers may read either.
			order, err := route.MapOrder(strings.Join(r.Header.Values("Content-Type"), ", "), r.URL.RawQuery, r.Header.Values("Cookie"), body, ip, r.UserAgent(), r.Header.Get("Accept-Language"))
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
			r.Body = io.NopCloser(bytes.NewReader(body))
			// Re-framed with its length: no chunks, no trailers.
			r.ContentLength = int64(len(body))
			r.TransferEncoding = nil
			r.Header.Set("X-Screening-Id", res.ScreeningID)
			r.Header.Set("X-Screening-Decision", string(res.Decision))
			r.Header.Set("X-Screening-Score", strconv.Itoa(res.Score))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
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

// routeIndex finds the route covering a canonical path. It holds every
// route path and each of its ancestors ("/api" for "/api/checkout"; nil
// for a path that is not itself a route), so that the walk down a request
// path stops at its first segment that leads to no route: one map lookup
// for an ordinary proxied path, and no allocation.
type routeIndex map[string]*screening.InterceptRoute

func newRouteIndex(routes []screening.InterceptRoute) routeIndex {
	ix := routeIndex{}
	routes = slices.Clone(routes) // the index points into its own copy
	for i := range routes {
		key := routeKey(routes[i].Path)
		ix[key] = &routes[i]
		for j := strings.LastIndexByte(key, '/'); j > 0; j = strings.LastIndexByte(key[:j], '/') {
			if _, ok := ix[key[:j]]; !ok {
				ix[key[:j]] = nil
			}
		}
	}
	return ix
}

// lookup returns the route with the longest path equal to key or above it
// at a segment boundary.
func (ix routeIndex) lookup(key string) (screening.InterceptRoute, bool) {
	if len(ix) == 0 {
		return screening.InterceptRoute{}, false
	}
	found := ix["/"]
	for i := 1; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			continue
		}
		rt, ok := ix[key[:i]]
		if !ok {
			break
		}
		if rt != nil {
			found = rt
		}
	}
	if found == nil {
		return screening.InterceptRoute{}, false
	}
	return *found, true
}
