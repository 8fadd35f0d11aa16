package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/refunds"
)

// The console's account view (issue 13 with issue 11's standing): an
// account's orders, refunds, chargebacks, restriction, abuse flags and
// verification status, and the forms to flag it and to remove a flag or
// lift its restriction, through the API's service calls (accountOwner,
// orders.DecodeFlagRequest, api.removeFlag), audited by the service.

// accountPageLimit is how many of the account's orders the page lists.
const accountPageLimit = 200

// accountsRoutes registers the account pages on the console's session
// group s: only on a gateway with the accounts service.
func (cn *console) accountsRoutes(s *gin.RouterGroup) {
	if cn.Accounts == nil {
		return
	}
	s.GET("/accounts", cn.accountLookup)
	s.GET("/accounts/:id", cn.accountPage)
	s.POST("/accounts/:id/flags", cn.accountFlagAdd)
	s.POST("/accounts/:id/flags/remove", cn.accountFlagRemove)
}

// accountPath is the account page of account id of owner, or with a
// suffix ("/flags") one of its form actions.
func accountPath(owner, id string, suffix ...string) string {
	return "/console/accounts/" + url.PathEscape(id) + strings.Join(suffix, "") + "?owner=" + url.QueryEscape(owner)
}

// accountLookup is the look-up form (owner and account id); filled in,
// it goes to the account's page.
func (cn *console) accountLookup(c *gin.Context) {
	owner, id := strings.TrimSpace(c.Query("owner")), strings.TrimSpace(c.Query("id"))
	if owner != "" && id != "" {
		c.Redirect(http.StatusSeeOther, accountPath(owner, id))
		return
	}
	cn.render(c, http.StatusOK, "account", gin.H{"LookupOwner": owner, "LookupID": id})
}

func (cn *console) accountPage(c *gin.Context) {
	owner, err := accountOwner(c)
	if err != nil {
		cn.fail(c, err)
		return
	}
	st, err := cn.Accounts.Standing(c.Request.Context(), owner, c.Param("id"), accountPageLimit)
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "account", gin.H{"Standing": &st, "OwnerQ": string(owner), "Flash": c.Query("done"),
		"FlagKinds": refunds.FlagKinds, "LookupOwner": string(owner), "LookupID": st.Account})
}

// accountFlagForm is the form's flag as the API decodes its JSON body.
func accountFlagForm(c *gin.Context, removing bool) (orders.FlagRequest, error) {
	body, err := json.Marshal(map[string]string{"kind": c.PostForm("kind"), "reason": c.PostForm("reason")})
	if err != nil {
		return orders.FlagRequest{}, err
	}
	return orders.DecodeFlagRequest(bytes.NewReader(body), removing)
}

// accountFlagAdd records an officer's abuse flag, like POST
// /api/v1/accounts/{id}/flags.
func (cn *console) accountFlagAdd(c *gin.Context) {
	cn.accountFlagChange(c, false, "flag added")
}

// accountFlagRemove removes a flag or (admin only, in removeFlag) lifts
// the restriction, like DELETE /api/v1/accounts/{id}/flags.
func (cn *console) accountFlagRemove(c *gin.Context) {
	cn.accountFlagChange(c, true, "flag removed")
}

func (cn *console) accountFlagChange(c *gin.Context, removing bool, done string) {
	f, err := accountFlagForm(c, removing)
	if err != nil {
		cn.fail(c, err)
		return
	}
	owner, err := accountOwner(c)
	if err != nil {
		cn.fail(c, err)
		return
	}
	id := c.Param("id")
	if removing {
		_, err = cn.removeFlag(c, owner, id, f)
		if f.Kind == orders.KindRestricted {
			done = "restriction lifted"
		}
	} else {
		_, err = cn.Accounts.AddFlag(c.Request.Context(), owner, id, f, auditActor(principal(c)))
	}
	if err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, accountPath(string(owner), id)+"&done="+url.QueryEscape(done))
}

// orderAccount is the account of order res as its audit entries name it
// ("" when none names an account with an id, or without an audit log):
// best effort, for the order page's link to the account.
func (cn *console) orderAccount(ctx context.Context, res orders.Result) string {
	if cn.Audit == nil || res.ScreeningID == "" {
		return ""
	}
	page, err := cn.Audit.Query(ctx, audit.Query{Order: res.ScreeningID, Limit: 20})
	if err != nil {
		return ""
	}
	for _, e := range page.Entries {
		if id, ok := strings.CutPrefix(e.Account, string(res.Owner)+"/"); ok && id != "" {
			return id
		}
	}
	return ""
}
