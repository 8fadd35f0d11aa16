package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
)

// accountService is what the API needs of the orders package's *Service
// for account standing and refund eligibility (issue 11).
type accountService interface {
	Standing(ctx context.Context, owner orders.Owner, account string, limit int) (orders.Standing, error)
	AddFlag(ctx context.Context, owner orders.Owner, account string, f orders.FlagRequest, actor string) (orders.Standing, error)
	RemoveFlag(ctx context.Context, owner orders.Owner, account string, f orders.FlagRequest, actor string) (orders.Standing, error)
	RefundEligibility(ctx context.Context, a orders.Access, id string, req refunds.Request, actor string) (refunds.Answer, error)
}

// errAccountsOff answers the account routes of a gateway built without
// the accounts service.
var errAccountsOff = errors.New("account standing is not configured")

// registerAccounts adds the account standing and refund eligibility
// routes. Every change is audited by the orders service, in the same
// step as the change (its pending stream); eligibility questions too.
func (a *api) registerAccounts(v1 *gin.RouterGroup, storefrontOrOfficer, officer gin.HandlerFunc) {
	v1.GET("/accounts/:id", storefrontOrOfficer, a.getAccount)
	v1.POST("/accounts/:id/flags", officer, a.addAccountFlag)
	v1.DELETE("/accounts/:id/flags", officer, a.removeAccountFlag)
	v1.POST("/orders/:id/refund-eligibility", storefrontOrOfficer, a.refundEligibility)
}

// accountOwner is the owner of the account an API call names: a
// storefront's own key; an officer names it with ?owner= (checkout or
// key:<API key name>), required.
func accountOwner(c *gin.Context) (orders.Owner, error) {
	p := principal(c)
	if !p.Can(auth.RoleOfficer) {
		if c.Query("owner") != "" {
			return "", &screening.FieldError{Field: "owner", Problem: "only officers name an owner; a storefront reads its own accounts"}
		}
		return orders.APIKeyOwner(p.Name), nil
	}
	s := c.Query("owner")
	if s == "" {
		return "", &screening.FieldError{Field: "owner", Problem: "an account id names one account per owner: add ?owner=checkout or ?owner=key:<API key name>"}
	}
	o, err := orders.ParseOwner("owner", s)
	if err != nil {
		return "", err
	}
	if o == orders.LegacyOwner {
		return "", &screening.FieldError{Field: "owner", Problem: "legacy orders have no account standing"}
	}
	return o, nil
}

// accountsReady answers 503 when the gateway has no accounts service.
func (a *api) accountsReady(c *gin.Context) bool {
	if a.Accounts == nil {
		a.fail(c, errAccountsOff)
		return false
	}
	return true
}

func (a *api) getAccount(c *gin.Context) {
	if !a.accountsReady(c) {
		return
	}
	owner, err := accountOwner(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			a.fail(c, &screening.FieldError{Field: "limit", Problem: "must be a number from 1 to 1000"})
			return
		}
	}
	st, err := a.Accounts.Standing(c.Request.Context(), owner, c.Param("id"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, st)
}

// accountFlag decodes a flags body and names the account.
func (a *api) accountFlag(c *gin.Context, removing bool) (orders.Owner, orders.FlagRequest, bool) {
	if !a.accountsReady(c) {
		return "", orders.FlagRequest{}, false
	}
	f, ok := decodeBody(a, c, func(r io.Reader) (orders.FlagRequest, error) { return orders.DecodeFlagRequest(r, removing) })
	if !ok {
		return "", orders.FlagRequest{}, false
	}
	owner, err := accountOwner(c)
	if err != nil {
		a.fail(c, err)
		return "", orders.FlagRequest{}, false
	}
	return owner, f, true
}

// addAccountFlag records an officer's abuse flag (body {"kind", "reason"}).
func (a *api) addAccountFlag(c *gin.Context) {
	owner, f, ok := a.accountFlag(c, false)
	if !ok {
		return
	}
	st, err := a.Accounts.AddFlag(c.Request.Context(), owner, c.Param("id"), f, auditActor(principal(c)))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusCreated, st)
}

// removeAccountFlag removes an abuse flag, or with kind "restricted" lifts
// the account's restriction, which only an admin may do.
func (a *api) removeAccountFlag(c *gin.Context) {
	owner, f, ok := a.accountFlag(c, true)
	if !ok {
		return
	}
	st, err := a.removeFlag(c, owner, c.Param("id"), f)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, st)
}

// removeFlag is the API's and the console's removal of a flag: lifting
// the restriction is an admin's, any other flag an officer's; the
// service audits it.
func (a *api) removeFlag(c *gin.Context, owner orders.Owner, account string, f orders.FlagRequest) (orders.Standing, error) {
	p := principal(c)
	if f.Kind == orders.KindRestricted && !p.Can(auth.RoleAdmin) {
		return orders.Standing{}, fmt.Errorf("%w: lifting an account's restriction is an admin action; %s %q may not", auth.ErrForbidden, p.Role, p.Name)
	}
	return a.Accounts.RemoveFlag(c.Request.Context(), owner, account, f, auditActor(p))
}

// refundEligibility answers whether a refund request is within the terms.
func (a *api) refundEligibility(c *gin.Context) {
	if !a.accountsReady(c) {
		return
	}
	req, ok := decodeBody(a, c, refunds.DecodeRequest)
	if !ok {
		return
	}
	acc, ok := a.access(c)
	if !ok {
		return
	}
	ans, err := a.Accounts.RefundEligibility(c.Request.Context(), acc, c.Param("id"), req, auditActor(principal(c)))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, ans)
}
