package kyc

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/linkpage"
	"github.com/vpsgate/gateway/internal/logctx"
)

//go:embed templates
var templateFS embed.FS

type page struct {
	Title, Message string
	Form           bool
	Action         string
	MaxMiB         int64
}

var linkTexts = map[LinkState][2]string{
	LinkInvalid:  {"This link is not valid", "This document upload link is not valid. It may have been copied incompletely. Use the link from the shop or the most recent email we sent you."},
	LinkUpload:   {"Confirm your identity", "Before we can activate your order we need to confirm your identity. Please send a photo or scan of an identity document. Only our compliance officers see it, and it is deleted after the check."},
	LinkExpired:  {"This link has expired", "This document upload link has expired. Please ask the shop for a new one."},
	LinkUsed:     {"Documents already sent", "Documents were already sent with this link; we are checking them. There is nothing more to do. If we need anything else, we will email you a new link."},
	LinkVerified: {"Identity already confirmed", "Your identity is already confirmed. There is nothing more to do."},
}

var linkStatus = map[LinkState]int{LinkInvalid: http.StatusBadRequest, LinkExpired: http.StatusGone, LinkUsed: http.StatusConflict, LinkVerified: http.StatusConflict}

// Handler serves the customer page at PagePath: GET shows the upload form
// for a good link (or says clearly what is wrong with it), POST takes the
// multipart upload, the token in the URL as the form sends it. POSTs from
// another origin are refused (http.CrossOriginProtection).
func (s *Service) Handler() (http.Handler, error) {
	tmpl, err := template.ParseFS(templateFS, "templates/page.html")
	if err != nil {
		return nil, err
	}
	return http.NewCrossOriginProtection().Handler(&pageHandler{s: s, tmpl: tmpl}), nil
}

type pageHandler struct {
	s    *Service
	tmpl *template.Template
}

func (h *pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PagePath {
		h.fail(w, r, http.StatusNotFound, "There is no page at this address.")
		return
	}
	token := r.URL.Query().Get("token")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, err := h.s.Check(r.Context(), token)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		h.show(w, r, st, token)
	case http.MethodPost:
		addr, _ := clientip.FromContext(r.Context())
		c, err := h.s.Submit(r.Context(), Upload{
			Token: token, ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength,
			Body: r.Body, Addr: logctx.MaskIP(addr),
		})
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		h.s.d.Logger.InfoContext(r.Context(), "kyc page upload", "case", c.ID)
		h.write(w, r, http.StatusOK, page{Title: "Documents received", Message: "Thank you: we have received your documents and will check them shortly. You can close this page."})
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "This page can only be read, or sent its own form.")
	}
}

func (h *pageHandler) show(w http.ResponseWriter, r *http.Request, st LinkState, token string) {
	t := linkTexts[st]
	p := page{Title: t[0], Message: t[1], MaxMiB: h.s.cfg.MaxFileBytes >> 20}
	if st == LinkUpload {
		p.Form = true
		p.Action = PagePath + "?token=" + url.QueryEscape(token)
	}
	status := http.StatusOK
	if s, ok := linkStatus[st]; ok {
		status = s
	}
	h.write(w, r, status, p)
}

// refuse presents a failed upload: the one presenter of this page.
func (h *pageHandler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrExpiredToken):
		h.show(w, r, LinkExpired, "")
	case errors.Is(err, ErrInvalidToken):
		h.show(w, r, LinkInvalid, "")
	case errors.Is(err, errLinkUsed):
		h.show(w, r, LinkUsed, "")
	case errors.Is(err, errAlreadyVerified):
		h.show(w, r, LinkVerified, "")
	case errors.Is(err, ErrUnavailable) || statusOf(err) >= 500:
		h.unavailable(w, r, err)
	default:
		status := statusOf(err)
		msg := "The documents could not be accepted: " + err.Error() + ". Nothing was kept; please go back and try again."
		switch status {
		case http.StatusRequestEntityTooLarge:
			msg = "A file is larger than we accept (" + itoa(h.s.cfg.MaxFileBytes>>20) + " MiB each). Nothing was kept; please go back and send smaller files."
		case http.StatusUnsupportedMediaType:
			msg = "Please send JPEG, PNG or PDF files only. Nothing was kept; please go back and try again."
		}
		h.s.d.Logger.InfoContext(r.Context(), "kyc upload refused", "status", status, "error", err)
		h.fail(w, r, status, msg)
	}
}

func (h *pageHandler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.s.d.Logger.ErrorContext(r.Context(), "kyc page failed", "error", err)
	w.Header().Set("Retry-After", "30")
	h.fail(w, r, http.StatusServiceUnavailable, "We could not take your documents just now. Nothing was kept, and your link still works: please try again in a few minutes.")
}

func (h *pageHandler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.write(w, r, status, page{Title: http.StatusText(status), Message: msg})
}

func (h *pageHandler) write(w http.ResponseWriter, r *http.Request, status int, p page) {
	linkpage.Write(w, r, h.s.d.Logger, "kyc page", h.tmpl, status, p)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
