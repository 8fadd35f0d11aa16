package gateway

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/kyc"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// The compliance officers' console: server-rendered pages under /console/
// on the same gin engine as /api/v1, calling the same service functions
// as the API handlers (and the same audit record). Sessions, CSRF and the
// login limit are internal/auth's; see docs/SECURITY.md "Console".

//go:embed consoleui
var consoleFS embed.FS

// loginLimiter is what the console needs of auth's *LoginLimiter.
type loginLimiter interface {
	Locked(ctx context.Context, email, addr string) (time.Duration, error)
	Failed(ctx context.Context, email, addr string) error
	Succeeded(ctx context.Context, email string) error
}

// reviewQueue is what the console needs of orders' *Service beyond the
// API's orderService: the held orders pending a manual review.
type reviewQueue interface {
	ReviewQueue(ctx context.Context, limit int) ([]orders.Result, error)
}

// ConsoleDeps turn the console on (APIDeps.Console).
type ConsoleDeps struct {
	Sessions *auth.Sessions
	Limiter  loginLimiter
	// Reviews lists the manual-review queue; nil: no queue page.
	Reviews reviewQueue
}

const (
	sessionCookie = "gateway_console"
	consoleCSP    = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

type sessionKey struct{}

type console struct {
	*api
	pages map[string]*template.Template
	cop   *http.CrossOriginProtection
}

// consoleRoutes registers /console/ on the admin engine r.
func (a *api) consoleRoutes(r *gin.Engine) {
	cn := &console{api: a, pages: consolePages(), cop: http.NewCrossOriginProtection()}
	static, _ := fs.Sub(consoleFS, "consoleui/static")
	g := r.Group("/console", cn.headers, cn.crossOrigin)
	g.StaticFS("/static", http.FS(static))
	g.GET("/login", cn.loginPage)
	g.POST("/login", cn.login)
	s := g.Group("", cn.session)
	s.POST("/logout", cn.logout)
	s.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/console/kyc") })
	s.GET("/kyc", cn.kycQueue)
	s.GET("/kyc/:id", cn.kycCase)
	s.GET("/kyc/:id/documents/:doc", cn.kycDocument)
	s.POST("/kyc/:id/claim", cn.kycClaim)
	s.POST("/kyc/:id/decide", cn.kycDecide)
	s.GET("/orders", cn.orderPage)
	s.GET("/reviews", cn.reviewsPage)
	s.POST("/orders/review", cn.orderReview)
	s.GET("/blocklist", cn.blocklistPage)
	s.POST("/blocklist", cn.blocklistAdd)
	s.POST("/blocklist/remove", cn.adminOnly, cn.blocklistRemove)
	s.GET("/audit", cn.auditPage)
	s.GET("/users", cn.adminOnly, cn.usersPage)
	s.POST("/kyc-erase", cn.adminOnly, cn.kycErase)
	if a.Webhooks != nil {
		s.GET("/webhooks", cn.webhooksPage)
		s.GET("/webhooks/:id", cn.webhookPage)
		s.POST("/webhooks/:id/replay", cn.webhookReplay)
	}
	if a.DevMail != nil {
		s.GET("/mail", cn.mailPage)
	}
	cn.accountsRoutes(s)
}

// headers: every console answer carries the strict CSP and is not cached
// or framed.
func (cn *console) headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// crossOrigin refuses cross-site state-changing requests (Sec-Fetch-Site,
// else Origin against Host): the first of two CSRF defences; the second is
// the session's token in every form (session).
func (cn *console) crossOrigin(c *gin.Context) {
	if err := cn.cop.Check(c.Request); err != nil {
		cn.fail(c, fmt.Errorf("%w: cross-origin request refused", auth.ErrForbidden))
		c.Abort()
	}
}

// session verifies the cookie, renews it past half its life, checks the
// CSRF token of every POST, and puts the principal in gin's context (and
// the request's, for the handlers shared with the API).
func (cn *console) session(c *gin.Context) {
	ck, err := c.Request.Cookie(sessionCookie)
	if err != nil {
		cn.toLogin(c)
		return
	}
	ss, err := cn.Console.Sessions.Verify(ck.Value)
	if err != nil {
		cn.clearCookie(c)
		cn.toLogin(c)
		return
	}
	if c.Request.Method == http.MethodPost && !ss.CheckCSRF(c.PostForm("csrf")) {
		cn.fail(c, fmt.Errorf("%w: the form's security token is missing or stale; reload the page and try again", auth.ErrForbidden))
		c.Abort()
		return
	}
	if cn.Console.Sessions.NeedsRenewal(ss) {
		if tok, renewed, err := cn.Console.Sessions.Mint(ss.Principal, ss.CSRF); err == nil {
			cn.setCookie(c, tok, renewed.Expires)
		}
	}
	c.Set("session", ss)
	ctx := logctx.With(c.Request.Context(), slog.String("principal", ss.Name))
	if _, ok := clientip.FromContext(ctx); !ok {
		ctx = clientip.NewContext(ctx, peerAddr(c.Request))
	}
	c.Request = c.Request.WithContext(context.WithValue(ctx, principalKey{}, ss.Principal))
	c.Next()
}

func (cn *console) toLogin(c *gin.Context) {
	if c.Request.Method == http.MethodGet {
		c.Redirect(http.StatusSeeOther, "/console/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
	} else {
		cn.fail(c, fmt.Errorf("%w: sign in again", auth.ErrUnauthenticated))
	}
	c.Abort()
}

func (cn *console) adminOnly(c *gin.Context) {
	if p := principal(c); !p.Can(auth.RoleAdmin) {
		cn.fail(c, fmt.Errorf("%w: only an admin may do this (you are %s)", auth.ErrForbidden, p.Role))
		c.Abort()
	}
}

func (cn *console) setCookie(c *gin.Context, value string, expires time.Time) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: value, Path: "/console/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
}

func (cn *console) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
}

// fail is the console's presenter: the one mapping of errors to statuses
// (present), as a page.
func (cn *console) fail(c *gin.Context, err error) {
	status, e := present(err, c.Writer.Header().Get("X-Request-Id"))
	if status >= 500 {
		cn.Logger.ErrorContext(c.Request.Context(), "console request failed", "status", status, "error", err)
	} else {
		cn.Logger.DebugContext(c.Request.Context(), "console request refused", "status", status, "error", err)
	}
	if rl, ok := errors.AsType[*auth.RateLimitedError](err); ok {
		c.Writer.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	cn.render(c, status, "error", gin.H{"Status": status, "Title": http.StatusText(status), "Error": e})
}

// render executes page with the layout's data: the principal and the
// session's CSRF token for the forms.
func (cn *console) render(c *gin.Context, status int, page string, data gin.H) {
	if data == nil {
		data = gin.H{}
	}
	if v, ok := c.Get("session"); ok {
		ss := v.(auth.Session)
		data["Me"], data["CSRF"], data["Admin"] = ss.Principal, ss.CSRF, ss.Can(auth.RoleAdmin)
	}
	data["Page"] = page
	data["DevMail"], data["Webhooks"], data["Reviews"] = cn.DevMail != nil, cn.Webhooks != nil, cn.Console.Reviews != nil
	data["Accounts"] = cn.Accounts != nil
	var b bytes.Buffer
	if err := cn.pages[page].ExecuteTemplate(&b, "layout", data); err != nil {
		cn.Logger.ErrorContext(c.Request.Context(), "console template", "page", page, "error", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

func (cn *console) loginPage(c *gin.Context) {
	cn.render(c, http.StatusOK, "login", gin.H{"Next": safeNext(c.Query("next"))})
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/console/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return "/console/kyc"
	}
	return s
}

// login checks the account and address lock first (a locked account's
// password is not checked), then the password; failures are counted.
func (cn *console) login(c *gin.Context) {
	email, password := strings.TrimSpace(c.PostForm("email")), c.PostForm("password")
	ctx, addr := c.Request.Context(), c.Request.RemoteAddr
	again := func(status int, msg string) {
		cn.render(c, status, "login", gin.H{"Next": safeNext(c.PostForm("next")), "Email": email, "Message": msg})
	}
	wait, err := cn.Console.Limiter.Locked(ctx, email, addr)
	if err != nil {
		cn.fail(c, err)
		return
	}
	if wait > 0 {
		c.Writer.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins for this account or from this address: locked for %s.", wait.Round(time.Second)))
		return
	}
	p, err := cn.Console.Sessions.CheckLogin(email, password)
	if err != nil {
		if err := cn.Console.Limiter.Failed(ctx, email, addr); err != nil {
			cn.fail(c, err)
			return
		}
		cn.recordAs(c, auth.Principal{Name: email, Role: "unknown"}, "console.login_failed", nil, nil)
		again(http.StatusUnauthorized, "Wrong email or password.")
		return
	}
	if err := cn.Console.Limiter.Succeeded(ctx, email); err != nil {
		cn.fail(c, err)
		return
	}
	tok, ss, err := cn.Console.Sessions.Mint(p, "")
	if err != nil {
		cn.fail(c, err)
		return
	}
	if err := cn.recordAs(c, p, "console.login", nil, nil); err != nil {
		cn.fail(c, err)
		return
	}
	cn.setCookie(c, tok, ss.Expires)
	c.Redirect(http.StatusSeeOther, safeNext(c.PostForm("next")))
}

// recordAs is api.record for a request without a session yet.
func (cn *console) recordAs(c *gin.Context, p auth.Principal, action string, before, after any) error {
	r := c.Request
	ctx := context.WithValue(r.Context(), principalKey{}, p)
	if _, ok := clientip.FromContext(ctx); !ok {
		ctx = clientip.NewContext(ctx, peerAddr(r))
	}
	c.Request = r.WithContext(ctx)
	defer func() { c.Request = r }()
	return cn.record(c, action, before, after)
}

func (cn *console) logout(c *gin.Context) {
	cn.clearCookie(c)
	if err := cn.record(c, "console.logout", nil, nil); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/login")
}

func (cn *console) kycQueue(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	st := kyc.Status(c.DefaultQuery("status", string(kyc.StatusPending)))
	cases, _, total, err := cn.KYC.Cases(c.Request.Context(), st, 0, kyc.MaxPage)
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "kyc", gin.H{"Cases": cases, "Total": total, "Status": st,
		"Statuses": []kyc.Status{kyc.StatusPending, kyc.StatusResubmission, kyc.StatusApproved, kyc.StatusRejected}})
}

func (cn *console) kycCase(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	v, err := cn.KYC.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		cn.fail(c, err)
		return
	}
	data := gin.H{"Case": v, "Flash": c.Query("done")}
	if cn.Audit != nil {
		// The account's orders, as the audit log names them (best effort:
		// the page shows the case without them).
		if page, err := cn.Audit.Query(c.Request.Context(), audit.Query{Account: v.Ref(), Limit: 100}); err == nil {
			var ids []string
			for _, e := range page.Entries {
				if e.Order != "" && !slices.Contains(ids, e.Order) {
					ids = append(ids, e.Order)
				}
			}
			data["Orders"] = ids
		}
	}
	cn.render(c, http.StatusOK, "case", data)
}

// kycDocument streams a case's document inline for the case page's
// <img>: only the image types the store accepts are shown inline
// (anything else is an attachment), typed as stored, never sniffed.
func (cn *console) kycDocument(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	acc, err := cn.KYC.Document(c.Request.Context(), c.Param("id"), c.Param("doc"), auditActor(principal(c)), clientAddr(c), false)
	if err != nil {
		cn.fail(c, err)
		return
	}
	defer acc.Object.Close()
	h := c.Writer.Header()
	disp := "attachment"
	if acc.Object.ContentType == "image/jpeg" || acc.Object.ContentType == "image/png" {
		disp = "inline"
	}
	h.Set("Content-Type", acc.Object.ContentType)
	h.Set("Content-Length", strconv.FormatInt(acc.Object.Size, 10))
	h.Set("Content-Disposition", disp+`; filename="`+acc.Filename+`"`)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, acc.Object); err != nil {
		cn.Logger.WarnContext(c.Request.Context(), "kyc document stream cut", "case", c.Param("id"), "error", err)
	}
}

func (cn *console) kycClaim(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	if _, err := cn.KYC.Claim(c.Request.Context(), c.Param("id"), auditActor(principal(c)), clientAddr(c)); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/kyc/"+url.PathEscape(c.Param("id"))+"?done=claimed")
}

// kycDecide: the case page's three decisions, through the same service
// calls as the API's decideKYCCase.
func (cn *console) kycDecide(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	d := kyc.Decision{Reason: c.PostForm("reason"), Note: c.PostForm("note")}
	action, id := c.PostForm("action"), c.Param("id")
	if _, _, err := cn.decideKYC(c, action, d); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/kyc/"+url.PathEscape(id)+"?done="+url.QueryEscape(action))
}

// orderPage shows one order (?id= screening id, or order_id with ?owner=)
// and its timeline; without ?id= a look-up form.
func (cn *console) orderPage(c *gin.Context) {
	id := strings.TrimSpace(c.Query("id"))
	data := gin.H{"ID": id, "Owner": c.Query("owner"), "Flash": c.Query("done")}
	if id == "" || cn.Orders == nil {
		cn.render(c, http.StatusOK, "order", data)
		return
	}
	acc := orders.Access{Officer: true}
	if s := c.Query("owner"); s != "" {
		o, err := orders.ParseOwner("owner", s)
		if err != nil {
			cn.fail(c, err)
			return
		}
		acc.Owner = o
	}
	res, tl, _, err := cn.Orders.Timeline(c.Request.Context(), acc, id, 0, orders.MaxTimelinePage)
	if err != nil {
		cn.fail(c, err)
		return
	}
	data["Order"], data["Timeline"] = res, tl
	if cn.Accounts != nil {
		data["Account"] = cn.orderAccount(c.Request.Context(), res)
	}
	cn.render(c, http.StatusOK, "order", data)
}

// orderReview records a manual review: the form becomes the API's JSON
// body and goes through the same decoder and service call.
func (cn *console) orderReview(c *gin.Context) {
	body, _ := json.Marshal(map[string]string{"decision": c.PostForm("decision"), "reason": c.PostForm("reason")})
	rv, err := orders.DecodeReview(bytes.NewReader(body))
	if err != nil {
		cn.fail(c, err)
		return
	}
	id := c.PostForm("id")
	res, err := cn.Orders.Review(c.Request.Context(), orders.Access{Officer: true}, id, rv, principal(c).Name)
	if err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/orders?id="+url.QueryEscape(res.ScreeningID)+"&done=reviewed")
}

func (cn *console) blocklistPage(c *gin.Context) {
	entries, err := cn.Blocklist.List(c.Request.Context(), blocklist.Kind(c.Query("kind")), 1000)
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "blocklist", gin.H{"Entries": entries, "Kind": c.Query("kind"), "Flash": c.Query("done")})
}

func (cn *console) blocklistAdd(c *gin.Context) {
	in := blocklistEntry{Kind: c.PostForm("kind"), Value: c.PostForm("value"), Reason: c.PostForm("reason")}
	if _, err := cn.addBlocklistEntry(c, in); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/blocklist?done=added")
}

// blocklistRemove (admin) removes by the entry's kind and value as the
// form gives them, like DELETE /api/v1/blocklist.
func (cn *console) blocklistRemove(c *gin.Context) {
	if err := cn.removeBlocklistEntry(c, c.PostForm("kind"), c.PostForm("value")); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/blocklist?done=removed")
}

// auditPage lists the log with the API's filters (auditQuery) and checks
// the hash links between the entries shown (each entry's prev is the
// hash of the one before it); `gateway audit verify` checks the chain
// in full, archive included.
func (cn *console) auditPage(c *gin.Context) {
	q := c.Request.URL.Query()
	for k, vs := range q { // empty form fields are no filter
		if len(vs) == 1 && vs[0] == "" {
			q.Del(k)
		}
	}
	c.Request.URL.RawQuery = q.Encode()
	aq, err := auditQuery(c)
	if err != nil {
		cn.fail(c, err)
		return
	}
	page, err := cn.Audit.Query(c.Request.Context(), aq)
	if err != nil {
		cn.fail(c, err)
		return
	}
	linked, broken := 0, 0
	for i := 1; i < len(page.Entries); i++ {
		newer, older := page.Entries[i-1], page.Entries[i]
		if aq.Oldest {
			newer, older = older, newer
		}
		if newer.Seq != older.Seq+1 {
			continue
		}
		if newer.Prev == older.Hash {
			linked++
		} else {
			broken++
		}
	}
	cn.render(c, http.StatusOK, "audit", gin.H{"Entries": page.Entries, "Next": page.Next, "Q": c.Request.URL.Query(),
		"Linked": linked, "Broken": broken})
}

func (cn *console) usersPage(c *gin.Context) {
	cn.render(c, http.StatusOK, "users", gin.H{"Users": cn.Console.Sessions.Users()})
}

// visible makes customer text unable to disguise itself: bidirectional
// overrides and isolates, zero-width and other invisible format
// characters, and control characters are shown as a visible marker
// ("⟦U+202E⟧"); html/template escapes the rest.
func visible(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\uFFFD' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			fmt.Fprintf(&b, "⟦U+%04X⟧", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func consolePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"v": func(x any) string {
			if x == nil {
				return ""
			}
			return visible(fmt.Sprint(x))
		},
		"age": func(sec int64) string {
			d := time.Duration(sec) * time.Second
			switch {
			case d >= 48*time.Hour:
				return fmt.Sprintf("%d days", d/(24*time.Hour))
			case d >= time.Hour:
				return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
			}
			return fmt.Sprintf("%dm", d/time.Minute)
		},
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"deref": func(p *int) int { return *p },
		"list":  func(xs ...string) []string { return xs },
		// vtext is v for multi-line text: line breaks stay.
		"vtext": func(s string) string {
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				lines[i] = visible(l)
			}
			return strings.Join(lines, "\n")
		},
		"js":   func(raw json.RawMessage) string { return visible(string(raw)) },
		"dash": func(x any) string { return strings.ReplaceAll(fmt.Sprint(x), "_", " ") },
		"acct": func(owner any, id string, suffix ...string) string {
			return accountPath(fmt.Sprint(owner), id, suffix...)
		},
		// maskedEmail names a case of orders without an account id in
		// lists, where the full address is not needed.
		"maskedEmail": func(email string) string { return visible(logctx.MaskEmail(email)) },
	}
	layout := template.Must(template.New("layout").Funcs(funcs).ParseFS(consoleFS, "consoleui/layout.html"))
	pages := map[string]*template.Template{}
	for _, p := range []string{"login", "error", "kyc", "case", "order", "blocklist", "audit", "users", "webhooks", "webhook", "mail", "reviews", "account"} {
		pages[p] = template.Must(template.Must(layout.Clone()).ParseFS(consoleFS, "consoleui/"+p+".html"))
	}
	return pages
}
