package gateway

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
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

// wantsJSON reports whether the client prefers JSON to HTML. Browsers send
// text/html first; API clients send application/json or nothing useful.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "text/html") {
		return false
	}
	return strings.Contains(accept, "json") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}
