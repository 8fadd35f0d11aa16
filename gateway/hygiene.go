package gateway

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// refuseAmbiguousRequests is the first step of the public chain, before the
// client IP, the geo-block and its exempt paths: what it refuses reaches
// nothing, whatever the path.
//
//   - CONNECT (a tunnel), TRACE and TRACK (which echo the request, cookies
//     and the gateway's own headers included): 405.
//   - A body on GET, HEAD or OPTIONS (Content-Length above 0 or any
//     Transfer-Encoding): 400. Storefronts ignore such a body, so on a
//     kept-alive connection they would read it as the next request, one
//     the gateway never saw.
//   - A path that can be read two ways (see pathAmbiguity): 400.
//
// It runs before the access log; refusals are counted in
// gateway_public_refused_total by what was refused (method, body, path)
// and logged at debug level.
func refuseAmbiguousRequests(logger *slog.Logger, reg prometheus.Registerer, next http.Handler) (http.Handler, error) {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_public_refused_total",
		Help: "Public requests refused before the geo-block because they could be read two ways, by what was refused (method, body, path).",
	}, []string{"what"})
	if err := reg.Register(refused); err != nil {
		return nil, err
	}
	byMethod, byBody, byPath := refused.WithLabelValues("method"), refused.WithLabelValues("body"), refused.WithLabelValues("path")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		switch {
		case strings.EqualFold(m, http.MethodConnect), strings.EqualFold(m, http.MethodTrace), strings.EqualFold(m, "TRACK"):
			byMethod.Inc()
			refuse(w, r, logger, http.StatusMethodNotAllowed, "method_not_allowed", "The method "+m+" is not served here.")
			return
		case bodyless(m) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0):
			byBody.Inc()
			refuse(w, r, logger, http.StatusBadRequest, "bad_request", "A "+strings.ToUpper(m)+" request must not carry a body.")
			return
		}
		if reason := pathAmbiguity(r.URL.Path, r.URL.RawPath); reason != "" {
			byPath.Inc()
			refuse(w, r, logger, http.StatusBadRequest, "bad_request", "The address of this request is not valid: "+reason+".")
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// bodyless reports whether the method is GET, HEAD or OPTIONS, in any case
// (PHP frameworks upper-case the method before routing).
func bodyless(method string) bool {
	return strings.EqualFold(method, http.MethodGet) || strings.EqualFold(method, http.MethodHead) ||
		strings.EqualFold(method, http.MethodOptions)
}

// refuse answers a request the public side will not pass on. The request
// body is not read, so the connection is closed after the answer rather
// than read as the next request.
func refuse(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, code, message string) {
	logger.DebugContext(r.Context(), "public request refused", "status", status, "method", r.Method, "reason", message)
	w.Header().Set("Connection", "close")
	writeError(w, r, status, code, message)
}
