package gateway

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/negotiate"
)

// apiError is the one error shape of the admin API and of JSON answers on
// the public side: {"error": {"code", "message", "field"}}.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeJSONError writes the JSON error body with status.
func writeJSONError(w http.ResponseWriter, status int, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]apiError{"error": e})
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// writeError answers a public-side request in the form the client asked
// for: JSON for API clients, a small HTML page for browsers.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if wantsJSON(r) {
		writeJSONError(w, status, apiError{Code: code, Message: message})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, struct{ Title, Message string }{http.StatusText(status), message})
}

// wantsJSON reports whether the client prefers JSON to HTML, by the same
// Accept rules as the geo-block's 451 (internal/negotiate). A client that
// states no preference (no Accept, or */*) but sent JSON reads JSON back.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if negotiate.PrefersJSON(accept) {
		return true
	}
	if len(accept) == 0 || len(accept) == 1 && strings.TrimSpace(accept[0]) == "*/*" {
		return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	}
	return false
}

// Sentinels of the gateway's own request handling.
var (
	errUnsupportedMediaType = kind.New(kind.ErrUnsupportedMediaType, "unsupported media type")
)

// present maps an error from any layer to the status and body the client
// sees. It is the one place where errors become HTTP statuses, by kind
// (internal/kind): every package's sentinels are of one. The order of the
// cases is the precedence when an error carries more than one. 5xx
// answers carry a generic message and the request id; the cause goes to
// the log.
func present(err error, requestID string) (int, apiError) {
	var fe kind.Field
	switch {
	case errors.Is(err, kind.ErrUnauthenticated):
		return http.StatusUnauthorized, apiError{Code: "unauthenticated", Message: err.Error()}
	case errors.Is(err, kind.ErrRateLimited):
		return http.StatusTooManyRequests, apiError{Code: "rate_limited", Message: err.Error()}
	case errors.Is(err, kind.ErrForbidden):
		return http.StatusForbidden, apiError{Code: "forbidden", Message: err.Error()}
	case errors.As(err, &fe):
		return http.StatusBadRequest, apiError{Code: "invalid_field", Message: fe.Error(), Field: fe.InvalidField()}
	case isTooLarge(err):
		return http.StatusRequestEntityTooLarge, apiError{Code: "too_large", Message: "the body is larger than this endpoint accepts"}
	case errors.Is(err, kind.ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, apiError{Code: "unsupported_media_type", Message: err.Error()}
	case errors.Is(err, kind.ErrInvalidInput):
		return http.StatusBadRequest, apiError{Code: "invalid_input", Message: err.Error()}
	case errors.Is(err, kind.ErrNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: err.Error()}
	case errors.Is(err, kind.ErrConflict):
		return http.StatusConflict, apiError{Code: "conflict", Message: err.Error()}
	case errors.Is(err, errNotAudited):
		return http.StatusServiceUnavailable, apiError{Code: "not_audited", Message: "the action was done, but the audit log could not record it; an operator is alerted (request " + requestID + ")"}
	case errors.Is(err, errVerificationOff), errors.Is(err, errAccountsOff):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: err.Error()}
	case errors.Is(err, kind.ErrUnavailable):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "a dependency of the gateway is unavailable; nothing was recorded, retry with the same request (request " + requestID + ")"}
	}
	return http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error (request " + requestID + ")"}
}

// isTooLarge reports a body over a limit: the kind, or the
// *http.MaxBytesError of a body read through http.MaxBytesReader.
func isTooLarge(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok || errors.Is(err, kind.ErrTooLarge)
}

// retryAfterSeconds is what a 503 asks the client to wait.
const retryAfterSeconds = "5"
