package emailverify

import (
	"embed"
	"errors"
	"html/template"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/linkpage"
)

//go:embed templates
var templateFS embed.FS

// maxFormBytes bounds the page's POST body: a token and an action.
const maxFormBytes = 8 << 10

// page is what the template is given. Email is the token's own address,
// masked; nothing else about any account is ever shown.
type page struct {
	Title, Message  string
	Email           string
	Token           string
	Action          string
	Confirm, Resend bool
}

// texts are the page's words for each state, plain on purpose.
var texts = map[State][2]string{
	StateInvalid:  {"This link is not valid", "This verification link is not valid. It may have been copied incompletely. Use the link from the most recent email we sent you, or ask the shop for a new one."},
	StateConfirm:  {"Confirm your email address", "Press the button to confirm that this email address is yours."},
	StateVerified: {"Email address verified", "Thank you: your email address is verified. You can close this page."},
	StateAlready:  {"Already verified", "This link has already been used: your email address is verified. There is nothing more to do."},
	StateExpired:  {"This link has expired", "This verification link has expired. We can send a new link to the same email address."},
	StateSent:     {"New link sent", "We have sent a new verification link to your email address. It may take a few minutes to arrive."},
}

var stateStatus = map[State]int{
	StateInvalid: http.StatusBadRequest,
	StateExpired: http.StatusGone,
}

// Handler serves the customer page at PagePath; everything else under the
// gateway's pages is 404. GET only reads the token (see the package doc for
// why); POST confirms (action=confirm) or asks for a new link
// (action=resend), the token travelling in the form, not the URL. POSTs
// from another origin are refused (http.CrossOriginProtection).
func (s *Service) Handler() (http.Handler, error) {
	tmpl, err := template.ParseFS(templateFS, "templates/page.html")
	if err != nil {
		return nil, err
	}
	h := &pageHandler{s: s, tmpl: tmpl}
	return http.NewCrossOriginProtection().Handler(h), nil
}

// ServeHTTP routes by the exact path. Not an http.ServeMux: it answers a
// path it would clean ("//_gateway/x") with a redirect, and every
// unknown path under /_gateway/ must be 404, whatever its spelling.
func (h *pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PagePath {
		h.fail(w, r, http.StatusNotFound, "There is no page at this address.")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(w, r)
	case http.MethodPost:
		h.post(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "This page can only be read, or sent its own form.")
	}
}

type pageHandler struct {
	s    *Service
	tmpl *template.Template
}

func (h *pageHandler) get(w http.ResponseWriter, r *http.Request) {
	st, c, err := h.s.Status(r.Context(), r.URL.Query().Get("token"))
	h.render(w, r, st, c, r.URL.Query().Get("token"), err)
}

func (h *pageHandler) post(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		h.fail(w, r, http.StatusUnsupportedMediaType, "This page accepts only its own form.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	token := r.PostForm.Get("token")
	var (
		st  State
		c   *Claims
		err error
	)
	switch r.PostForm.Get("action") {
	case "confirm":
		st, c, err = h.s.Verify(r.Context(), token)
	case "resend":
		addr, _ := clientip.FromContext(r.Context())
		st, c, err = h.s.ResendFor(r.Context(), token, Requester{Addr: addr})
	default:
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	h.render(w, r, st, c, token, err)
}

// render presents a state, or err: the one presenter of this page.
func (h *pageHandler) render(w http.ResponseWriter, r *http.Request, st State, c *Claims, token string, err error) {
	if rl, ok := errors.AsType[*RateLimitedError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		h.s.d.Logger.InfoContext(r.Context(), "verification resend refused", "scope", rl.Scope)
		h.fail(w, r, http.StatusTooManyRequests, "Too many new links were asked for. Please wait a while before asking again, and check your spam folder for the links already sent.")
		return
	}
	if err != nil {
		h.s.d.Logger.ErrorContext(r.Context(), "email verification page failed", "error", err)
		w.Header().Set("Retry-After", "30")
		h.fail(w, r, http.StatusServiceUnavailable, "We could not do this just now. Nothing was changed, and your link still works: please try again in a minute.")
		return
	}
	t := texts[st]
	p := page{Title: t[0], Message: t[1], Action: PagePath}
	if c != nil {
		p.Email = maskEmail(c.Email)
	}
	switch st {
	case StateConfirm:
		p.Confirm, p.Token = true, token
	case StateExpired:
		p.Resend, p.Token = true, token
	}
	status := http.StatusOK
	if s, ok := stateStatus[st]; ok {
		status = s
	}
	h.write(w, r, status, p)
}

func (h *pageHandler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.write(w, r, status, page{Title: http.StatusText(status), Message: msg})
}

func (h *pageHandler) write(w http.ResponseWriter, r *http.Request, status int, p page) {
	linkpage.Write(w, r, h.s.d.Logger, "verification page", h.tmpl, status, p)
}

// maskEmail keeps the first letter of the local part and the domain
// ("ann@example.com" -> "a***@example.com"), the whole letter even when it
// takes several bytes (logctx.MaskEmail cuts a byte, which is fine in a log
// but would put half a character on a page).
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	r, size := utf8.DecodeRuneInString(local)
	if !ok || size == 0 || r == utf8.RuneError {
		return "***"
	}
	return local[:size] + "***@" + domain
}
