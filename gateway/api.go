package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/internal/strictjson"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// orderService is what the API needs of the orders package's *Service.
type orderService interface {
	// SubmitJSON is Submit that also returns a new order's answer as
	// the JSON the commit encoded (nil for a replay's answer read back).
	SubmitJSON(ctx context.Context, owner orders.Owner, o screening.Order) (orders.Result, []byte, error)
	Get(ctx context.Context, a orders.Access, id string) (orders.Result, error)
	Timeline(ctx context.Context, a orders.Access, id string, offset, limit int) (orders.Result, []orders.TimelineEntry, int, error)
	RecordEvent(ctx context.Context, a orders.Access, id string, e orders.Event) (orders.Result, error)
	Review(ctx context.Context, a orders.Access, id string, rv orders.ManualReview, officer string) (orders.Result, error)
}

// blocklistService is what the API needs of blocklist's *List.
type blocklistService interface {
	Add(ctx context.Context, e blocklist.Entry) (blocklist.Entry, error)
	Remove(ctx context.Context, kind blocklist.Kind, value string) error
	List(ctx context.Context, kind blocklist.Kind, limit int) ([]blocklist.Entry, error)
}

// authenticator checks the caller of an API request.
type authenticator interface {
	Authenticate(r *http.Request) (auth.Principal, error)
}

// APIDeps are the services behind /api/v1.
type APIDeps struct {
	Auth      authenticator
	Orders    orderService
	Blocklist blocklistService
	Audit     auditLog // officer and admin actions are recorded here (audit.go)
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	// DevMail is the development outbox (embedded mode, no smtp.url);
	// nil: no /api/v1/dev/mail.
	DevMail devMailbox
	// Verification resends verification links; nil: email verification
	// is off and its route answers 503.
	Verification verificationResender
	// Webhooks is webhook delivery (api_webhooks.go); nil: no webhook
	// endpoints are configured and /api/v1/webhooks/... are not served.
	Webhooks webhookService
	// KYC is the case workflow (api_kyc.go); nil: its routes answer 503.
	KYC kycService
	// Accounts is account standing and refund eligibility (issue 11);
	// nil: its routes answer 503.
	Accounts accountService
	// Links links intercepted checkouts to the shop's order ids
	// (api_link.go); nil: its route answers 503.
	Links orderLinker
	// Console is the officers' console (console.go) on the same engine;
	// nil: /console/ is not served.
	Console *ConsoleDeps
}

// maxAPIBody bounds every API body; orders have their own, equal, limit.
const maxAPIBody = screening.MaxOrderBytes

type principalKey struct{}

// NewAPI builds the /api/v1 handler. Handlers are thin: decode, call the
// service, present the result or the error (the one error presenter is
// present in errors.go).
func NewAPI(d APIDeps) http.Handler {
	a := &api{APIDeps: d}
	r := gin.New()
	r.Use(recordRouteTemplate)
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) {
		writeJSONError(c.Writer, http.StatusNotFound, apiError{Code: "not_found", Message: "no such endpoint: " + c.Request.Method + " " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		writeJSONError(c.Writer, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path})
	})
	v1 := r.Group("/api/v1")
	storefrontOrOfficer := a.allow(auth.RoleStorefront, auth.RoleOfficer)
	officer := a.allow(auth.RoleOfficer)
	admin := a.allow(auth.RoleAdmin)

	v1.POST("/orders", a.allow(auth.RoleStorefront), a.submitOrder)
	v1.GET("/orders/:id", storefrontOrOfficer, a.getOrder)
	v1.GET("/orders/:id/timeline", officer, a.orderTimeline)
	v1.POST("/orders/:id/events", storefrontOrOfficer, a.orderEvent)
	v1.POST("/orders/:id/review", officer, a.reviewOrder)
	v1.POST("/orders/:id/link", a.allow(auth.RoleStorefront), a.linkOrder)

	v1.GET("/blocklist", officer, a.listBlocklist)
	v1.POST("/blocklist", officer, a.addBlocklist)
	v1.DELETE("/blocklist", admin, a.removeBlocklist)

	v1.GET("/audit", officer, a.listAudit)
	if d.DevMail != nil {
		v1.GET("/dev/mail", officer, a.listDevMail)
	}
	v1.POST("/accounts/:id/verification-email", a.allow(auth.RoleStorefront), a.resendVerification)
	if d.Webhooks != nil {
		a.webhookRoutes(v1, officer)
	}
	a.kycRoutes(v1, officer, admin, a.allow(auth.RoleStorefront))
	a.registerAccounts(v1, storefrontOrOfficer, officer)
	if d.Console != nil {
		a.consoleRoutes(r)
	}
	return r
}

type api struct {
	APIDeps
}

// allow authenticates the request and lets it through when the caller holds
// one of roles (an admin passes wherever an officer does).
func (a *api) allow(roles ...auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := a.Auth.Authenticate(c.Request)
		if err != nil {
			if rl, ok := errors.AsType[*auth.RateLimitedError](err); ok {
				c.Writer.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
			} else {
				c.Writer.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
			}
			a.fail(c, err)
			c.Abort()
			return
		}
		for _, r := range roles {
			if p.Can(r) {
				ctx := logctx.With(c.Request.Context(), slog.String("principal", p.Name))
				if _, ok := clientip.FromContext(ctx); !ok {
					// The admin listener trusts no proxy: the socket
					// peer is the caller the audit log names.
					ctx = clientip.NewContext(ctx, peerAddr(c.Request))
				}
				c.Request = c.Request.WithContext(context.WithValue(ctx, principalKey{}, p))
				c.Next()
				return
			}
		}
		a.fail(c, fmt.Errorf("%w: %s %q may not %s %s", auth.ErrForbidden, p.Role, p.Name, c.Request.Method, c.FullPath()))
		c.Abort()
	}
}

func principal(c *gin.Context) auth.Principal {
	p, _ := c.Request.Context().Value(principalKey{}).(auth.Principal)
	return p
}

// fail presents err; server-side failures are logged here, once.
func (a *api) fail(c *gin.Context, err error) {
	status, e := present(err, c.Writer.Header().Get("X-Request-Id"))
	switch {
	case status >= 500:
		a.Logger.ErrorContext(c.Request.Context(), "api request failed", "status", status, "error", err)
		if status == http.StatusServiceUnavailable {
			c.Writer.Header().Set("Retry-After", retryAfterSeconds)
		}
	default:
		a.Logger.DebugContext(c.Request.Context(), "api request refused", "status", status, "error", err)
	}
	writeJSONError(c.Writer, status, e)
}

func (a *api) ok(c *gin.Context, status int, v any) {
	c.Writer.Header().Set("Cache-Control", "no-store")
	c.JSON(status, v)
}

// jsonBody checks the media type and bounds the body.
func jsonBody(c *gin.Context) (io.Reader, error) {
	// The exact common value first: ParseMediaType allocates a map.
	if ct := c.GetHeader("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, fmt.Errorf("%w: send Content-Type: application/json", errUnsupportedMediaType)
		}
	}
	return http.MaxBytesReader(c.Writer, c.Request.Body, maxAPIBody), nil
}

// decodeBody reads a JSON request body (jsonBody) with decode, the
// body's own strict decoder, answering the error itself: false means the
// handler is done.
func decodeBody[T any](a *api, c *gin.Context, decode func(io.Reader) (T, error)) (T, bool) {
	var v T
	body, err := jsonBody(c)
	if err == nil {
		v, err = decode(body)
	}
	if err != nil {
		a.fail(c, err)
		return v, false
	}
	return v, true
}

// bindJSON reads a JSON request body into v with decodeStrict, answering
// the error itself: false means the handler is done.
func (a *api) bindJSON(c *gin.Context, v any) bool {
	_, ok := decodeBody(a, c, func(r io.Reader) (struct{}, error) { return struct{}{}, decodeStrict(r, v) })
	return ok
}

// decodeStrict decodes one JSON object (strictjson: no unknown members,
// nothing after it); a body over the limit stays a *http.MaxBytesError.
func decodeStrict(r io.Reader, v any) error {
	err := strictjson.Read(r, v)
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	return fmt.Errorf("%w: body: %v", kind.ErrInvalidInput, err)
}

func (a *api) submitOrder(c *gin.Context) {
	o, ok := decodeBody(a, c, screening.DecodeOrder)
	if !ok {
		return
	}
	ctx := logctx.With(c.Request.Context(), slog.String("order_id", o.OrderID))
	// A storefront's order_id lives in its own key's namespace.
	res, answer, err := a.Orders.SubmitJSON(ctx, orders.APIKeyOwner(principal(c).Name), o)
	if err != nil {
		c.Request = c.Request.WithContext(ctx)
		a.fail(c, err)
		return
	}
	if answer != nil {
		// The bytes c.JSON would write (json.Marshal of res), encoded
		// once by the commit: encoding the answer again was about 1.5%
		// of the gateway's CPU per order.
		c.Writer.Header().Set("Cache-Control", "no-store")
		c.Data(http.StatusOK, "application/json; charset=utf-8", answer)
		return
	}
	a.ok(c, http.StatusOK, res)
}

// access is orderAccess, answering the error itself: false means the
// handler is done.
func (a *api) access(c *gin.Context) (orders.Access, bool) {
	acc, err := orderAccess(c)
	if err != nil {
		a.fail(c, err)
		return acc, false
	}
	return acc, true
}

// orderAccess says who addresses an order: a storefront in its own key's
// namespace; an officer anywhere, naming the owner of a bare order_id
// with ?owner= (orders.Access).
func orderAccess(c *gin.Context) (orders.Access, error) {
	p := principal(c)
	if !p.Can(auth.RoleOfficer) {
		if c.Query("owner") != "" {
			return orders.Access{}, &screening.FieldError{Field: "owner", Problem: "only officers name an owner; a storefront reads its own orders"}
		}
		return orders.Access{Owner: orders.APIKeyOwner(p.Name)}, nil
	}
	acc := orders.Access{Officer: true}
	if s := c.Query("owner"); s != "" {
		o, err := orders.ParseOwner("owner", s)
		if err != nil {
			return orders.Access{}, err
		}
		acc.Owner = o
	}
	return acc, nil
}

func (a *api) getOrder(c *gin.Context) {
	acc, ok := a.access(c)
	if !ok {
		return
	}
	res, err := a.Orders.Get(c.Request.Context(), acc, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, res)
}

func (a *api) orderTimeline(c *gin.Context) {
	acc, ok := a.access(c)
	if !ok {
		return
	}
	offset, limit, err := pageParams(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	res, tl, next, err := a.Orders.Timeline(c.Request.Context(), acc, c.Param("id"), offset, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page := map[string]any{"screening_id": res.ScreeningID, "order_id": res.OrderID, "owner": res.Owner, "timeline": tl}
	if next >= 0 {
		page["next_offset"] = next
	}
	a.ok(c, http.StatusOK, page)
}

// pageParams reads ?offset= (default 0) and ?limit= (default 100) of a
// paginated read.
func pageParams(c *gin.Context) (offset, limit int, err error) {
	offset, limit = 0, 100
	if s := c.Query("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return 0, 0, &screening.FieldError{Field: "offset", Problem: "must be a number, 0 or more"}
		}
	}
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > orders.MaxTimelinePage {
			return 0, 0, &screening.FieldError{Field: "limit", Problem: "must be a number from 1 to 1000"}
		}
	}
	return offset, limit, nil
}

func (a *api) orderEvent(c *gin.Context) {
	ev, ok := decodeBody(a, c, orders.DecodeEvent)
	if !ok {
		return
	}
	acc, ok := a.access(c)
	if !ok {
		return
	}
	res, err := a.Orders.RecordEvent(c.Request.Context(), acc, c.Param("id"), ev)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, res)
}

// reviewOrder records an officer's manual review; the officer is the
// authenticated principal, never a body field.
func (a *api) reviewOrder(c *gin.Context) {
	rv, ok := decodeBody(a, c, orders.DecodeReview)
	if !ok {
		return
	}
	acc, ok := a.access(c)
	if !ok {
		return
	}
	ctx := logctx.With(c.Request.Context(), slog.String("order_id", c.Param("id")))
	res, err := a.Orders.Review(ctx, acc, c.Param("id"), rv, principal(c).Name)
	if err != nil {
		c.Request = c.Request.WithContext(ctx)
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, res)
}

// blocklistEntry is the API's view of an entry.
type blocklistEntry struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func (a *api) listBlocklist(c *gin.Context) {
	limit, ok := a.limitParam(c, 100, 1000)
	if !ok {
		return
	}
	entries, err := a.Blocklist.List(c.Request.Context(), blocklist.Kind(c.Query("kind")), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, map[string]any{"entries": entries})
}

func (a *api) addBlocklist(c *gin.Context) {
	var in blocklistEntry
	if !a.bindJSON(c, &in) {
		return
	}
	e, err := a.addBlocklistEntry(c, in)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusCreated, e)
}

// addBlocklistEntry adds in as the principal and audits it (the API's and
// the console's one way to add).
func (a *api) addBlocklistEntry(c *gin.Context, in blocklistEntry) (blocklist.Entry, error) {
	e, err := a.Blocklist.Add(c.Request.Context(), blocklist.Entry{
		Kind: blocklist.Kind(in.Kind), Value: in.Value, Reason: in.Reason, AddedBy: principal(c).Name,
	})
	if err != nil {
		return blocklist.Entry{}, err
	}
	return e, a.record(c, "blocklist.added", nil, e)
}

func (a *api) removeBlocklist(c *gin.Context) {
	kind, value := c.Query("kind"), c.Query("value")
	if kind == "" || value == "" {
		a.fail(c, &screening.FieldError{Field: "kind", Problem: "DELETE /api/v1/blocklist?kind=...&value=... needs both"})
		return
	}
	if err := a.removeBlocklistEntry(c, kind, value); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// removeBlocklistEntry removes an entry and audits it (the API's and the
// console's one way to remove).
func (a *api) removeBlocklistEntry(c *gin.Context, kind, value string) error {
	if err := a.Blocklist.Remove(c.Request.Context(), blocklist.Kind(kind), value); err != nil {
		return err
	}
	// The log shows the value masked, as List does: the identifier
	// itself is never stored.
	before := blocklistEntry{Kind: kind, Value: "x"}
	if k, v, err := blocklist.ParseEntry(kind, value); err == nil {
		before = blocklistEntry{Kind: string(k), Value: blocklist.Mask(k, v)}
	}
	return a.record(c, "blocklist.removed", before, nil)
}
