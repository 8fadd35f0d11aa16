package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/screening"
)

// orderSubmitter screens an order of an owner (screening's *Orders).
type orderSubmitter interface {
	Submit(ctx context.Context, owner screening.Owner, o screening.Order) (screening.Result, error)
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
func NewInterceptor(routes []screening.InterceptRoute, orders orderSubmitter, logger *slog.Logger) func(http.Handler) http.Handler {
	// Indexed by path, then method, so the lookup on every proxied
	// request builds no key.
	index := make(map[string]map[string]screening.InterceptRoute, len(routes))
	for _, rt := range routes {
		key := routeKey(rt.Path)
		if index[key] == nil {
			index[key] = map[string]screening.InterceptRoute{}
		}
		index[key][strings.ToUpper(rt.Method)] = rt
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, h := range screeningHeaders {
				delete(r.Header, h)
			}
			route, ok := index[routeKey(r.URL.Path)][upperASCII(r.Method)]
			if !ok {
				next.ServeHTTP(w, r)
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
			order, err := route.MapOrder(r.Header.Get("Content-Type"), body, ip, r.UserAgent(), r.Header.Get("Accept-Language"))
			if err != nil {
				checkoutError(w, r, logger, err)
				return
			}
			ctx = logctx.With(ctx, slog.String("order_id", order.OrderID))
			// A visitor chooses the order_id of a checkout: it lives in
			// the checkout namespace, apart from every API key's orders.
			res, err := orders.Submit(ctx, screening.CheckoutOwner, order)
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
			r.ContentLength = int64(len(body))
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

// routeKey is the form a path is matched in. Storefronts are lenient about
// paths: "//checkout", "/checkout/" and "/x/../checkout" are the checkout
// to one that normalizes paths (nginx, most PHP routers), "/CHECKOUT" to
// one on a case-insensitive router or file system (IIS, some frameworks),
// "/checkout;jsessionid=1" to a servlet container. Each of those must be
// screened, so the match is on the cleaned, lower-cased path without
// segment parameters. It does not allocate for a path already in that form.
func routeKey(p string) string {
	if strings.IndexByte(p, ';') >= 0 {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i], _, _ = strings.Cut(s, ";")
		}
		p = strings.Join(segs, "/")
	}
	return lowerASCII(path.Clean(p))
}

func lowerASCII(s string) string {
	for i := range len(s) {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// upperASCII matches methods case-insensitively: PHP frameworks upper-case
// the method before routing, so "post" reaches the checkout too.
func upperASCII(s string) string {
	for i := range len(s) {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}
