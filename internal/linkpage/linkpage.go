// Package linkpage writes the pages customer links open
// (/_gateway/verify-email, /_gateway/kyc). Their URL carries a credential,
// the link's token, so every page goes out with headers that keep it there:
// no cache keeps the page, no Referer carries the URL to another site, no
// frame shows it, and nothing but the page's own inline style and forms
// back to the gateway runs.
package linkpage

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
)

// csp allows the page's inline style and forms posted back to the gateway,
// nothing else.
const csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Write renders tmpl with data and sends it with status. A page that does
// not render is logged (what names the page) and answered 500, never half
// written.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, what string, tmpl *template.Template, status int, data any) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		logger.ErrorContext(r.Context(), "rendering "+what, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
