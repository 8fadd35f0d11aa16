package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/kyc"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
)

// kycService is what the API needs of kyc's *Service: the officers' case
// workflow, the admin's erasure and the storefronts' upload.
type kycService interface {
	Cases(ctx context.Context, st kyc.Status, offset, limit int) ([]kyc.View, int, int64, error)
	Get(ctx context.Context, id string) (kyc.View, error)
	Claim(ctx context.Context, id, officer, addr string) (kyc.View, error)
	Approve(ctx context.Context, id string, d kyc.Decision, officer, addr string) (kyc.View, error)
	Reject(ctx context.Context, id string, d kyc.Decision, officer, addr string) (kyc.View, error)
	RequestResubmission(ctx context.Context, id string, d kyc.Decision, officer, addr string) (kyc.View, string, error)
	Document(ctx context.Context, id, doc, officer, addr string, presign bool) (kyc.DocumentAccess, error)
	Erase(ctx context.Context, owner, account, admin, addr string) (int, error)
	EraseCase(ctx context.Context, id, admin, addr string) (int, error)
	Submit(ctx context.Context, u kyc.Upload) (*kyc.Case, error)
}

// errKYCOff: the gateway runs without KYC (no auth.jwt_secret or
// public_url); its routes answer 503.
var errKYCOff = kind.New(kind.ErrUnavailable, "KYC is not configured on this gateway (auth.jwt_secret and public_url)")

// kycRoutes registers the KYC API on v1 (called by NewAPI).
func (a *api) kycRoutes(v1 *gin.RouterGroup, officer, admin, storefront gin.HandlerFunc) {
	k := v1.Group("/kyc")
	k.GET("/cases", officer, a.kycOn, a.listKYCCases)
	k.GET("/cases/:id", officer, a.kycOn, a.getKYCCase)
	k.POST("/cases/:id/claim", officer, a.kycOn, a.claimKYCCase)
	k.POST("/cases/:id/approve", officer, a.kycOn, a.decideKYCCase("approve"))
	k.POST("/cases/:id/reject", officer, a.kycOn, a.decideKYCCase("reject"))
	k.POST("/cases/:id/request-resubmission", officer, a.kycOn, a.decideKYCCase("request-resubmission"))
	k.GET("/cases/:id/documents/:doc", officer, a.kycOn, a.kycDocument)
	k.POST("/accounts/:account/erase", admin, a.kycOn, a.eraseKYC)
	k.POST("/cases/:id/erase", admin, a.kycOn, a.eraseKYCCase)
	k.POST("/uploads", storefront, a.kycOn, a.uploadKYC)
}

func (a *api) kycOn(c *gin.Context) {
	if a.KYC == nil {
		a.fail(c, errKYCOff)
		c.Abort()
	}
}

// clientAddr is the caller's address, masked as in logs, for the audit log.
func clientAddr(c *gin.Context) string {
	ip, ok := clientip.FromContext(c.Request.Context())
	if !ok {
		ip = peerAddr(c.Request)
	}
	return logctx.MaskIP(ip)
}

// listKYCCases answers GET /api/v1/kyc/cases?status=pending (default),
// oldest submission first, paginated by offset and limit (1-100, default
// 50), each case with its age in seconds.
func (a *api) listKYCCases(c *gin.Context) {
	st := kyc.Status(c.DefaultQuery("status", string(kyc.StatusPending)))
	offset, limit := 0, 50
	var err error
	if s := c.Query("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			a.fail(c, &screening.FieldError{Field: "offset", Problem: "must be a number, 0 or more"})
			return
		}
	}
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > kyc.MaxPage {
			a.fail(c, &screening.FieldError{Field: "limit", Problem: fmt.Sprintf("must be a number from 1 to %d", kyc.MaxPage)})
			return
		}
	}
	cases, next, total, err := a.KYC.Cases(c.Request.Context(), st, offset, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := gin.H{"cases": cases, "total": total}
	if next >= 0 {
		out["next_offset"] = next
	}
	a.ok(c, http.StatusOK, out)
}

func (a *api) getKYCCase(c *gin.Context) {
	v, err := a.KYC.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, v)
}

func (a *api) claimKYCCase(c *gin.Context) {
	v, err := a.KYC.Claim(c.Request.Context(), c.Param("id"), auditActor(principal(c)), clientAddr(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, v)
}

// decideKYCCase answers approve, reject and request-resubmission: body
// {"reason": "...", "note": "..."} (reason required but for approve; an
// empty body approves without a note). The officer is the authenticated
// principal.
func (a *api) decideKYCCase(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var d kyc.Decision
		if c.Request.ContentLength != 0 {
			if !a.bindJSON(c, &d) {
				return
			}
		}
		v, link, err := a.decideKYC(c, action, d)
		if err != nil {
			a.fail(c, err)
			return
		}
		if link != "" {
			a.ok(c, http.StatusOK, gin.H{"case": v, "link": link})
			return
		}
		a.ok(c, http.StatusOK, v)
	}
}

// decideKYC makes the principal's decision on case :id (the API's and
// the console's one way to decide).
func (a *api) decideKYC(c *gin.Context, action string, d kyc.Decision) (v kyc.View, link string, err error) {
	ctx, id, officer, addr := c.Request.Context(), c.Param("id"), auditActor(principal(c)), clientAddr(c)
	switch action {
	case "approve":
		v, err = a.KYC.Approve(ctx, id, d, officer, addr)
	case "reject":
		v, err = a.KYC.Reject(ctx, id, d, officer, addr)
	case "request-resubmission":
		v, link, err = a.KYC.RequestResubmission(ctx, id, d, officer, addr)
	default:
		err = fmt.Errorf("%w: unknown decision %q (approve, reject or request-resubmission)", kind.ErrInvalidInput, action)
	}
	return v, link, err
}

// kycDocument answers GET /api/v1/kyc/cases/{id}/documents/{doc}: the
// document itself with its stored type, never sniffed, as an attachment;
// with ?presign=1 a JSON {"url", "expires_in"} of a presigned URL of at
// most five minutes. Every access is audited before it is given.
func (a *api) kycDocument(c *gin.Context) {
	presign := c.Query("presign") == "1"
	acc, err := a.KYC.Document(c.Request.Context(), c.Param("id"), c.Param("doc"), auditActor(principal(c)), clientAddr(c), presign)
	if err != nil {
		a.fail(c, err)
		return
	}
	if presign {
		a.ok(c, http.StatusOK, gin.H{"url": acc.URL.String(), "expires_in": int(kyc.MaxPresign / time.Second)})
		return
	}
	defer acc.Object.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", acc.Object.ContentType)
	h.Set("Content-Length", strconv.FormatInt(acc.Object.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `attachment; filename="`+acc.Filename+`"`)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, acc.Object); err != nil {
		a.Logger.WarnContext(c.Request.Context(), "kyc document stream cut", "case", c.Param("id"), "error", err)
	}
}

// eraseKYC answers POST /api/v1/kyc/accounts/{account}/erase?owner=key:shop
// (admin): every document of the account is deleted at once, its cases
// kept and marked redacted, audited.
func (a *api) eraseKYC(c *gin.Context) {
	owner, err := orders.ParseOwner("owner", c.Query("owner"))
	if err != nil {
		a.fail(c, err)
		return
	}
	n, err := a.KYC.Erase(c.Request.Context(), string(owner), c.Param("account"), auditActor(principal(c)), clientAddr(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, gin.H{"owner": owner, "account": c.Param("account"), "cases_redacted": n})
}

// eraseKYCCase answers POST /api/v1/kyc/cases/{id}/erase (admin): every
// document of the identity the case checks is deleted at once, as
// eraseKYC does for an account; the way to erase a case of orders without
// an account id (an email reference, which no account id names).
func (a *api) eraseKYCCase(c *gin.Context) {
	n, err := a.KYC.EraseCase(c.Request.Context(), c.Param("id"), auditActor(principal(c)), clientAddr(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, gin.H{"case": c.Param("id"), "cases_redacted": n})
}

// uploadKYC answers POST /api/v1/kyc/uploads?token=... (storefront): the
// customer page's upload for storefronts with their own page, the same
// multipart/form-data fields; the token must be one of the calling key's
// orders' links.
func (a *api) uploadKYC(c *gin.Context) {
	r := c.Request
	cs, err := a.KYC.Submit(r.Context(), kyc.Upload{
		Token: c.Query("token"), ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength,
		Body: r.Body, Addr: clientAddr(c), Owner: string(orders.APIKeyOwner(principal(c).Name)),
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusCreated, gin.H{"case": cs.ID, "status": cs.Status, "submission": cs.Submissions})
}
