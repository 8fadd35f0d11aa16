package gateway

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/webhooks"
)

// The console's webhook deliveries, development mail and KYC erasure
// pages (console.go has the rest).

func (cn *console) webhooksPage(c *gin.Context) {
	q := webhooks.Query{Endpoint: c.Query("endpoint"), Event: c.Query("event"), Order: c.Query("order"), State: c.Query("state"), After: c.Query("after"), Limit: 100}
	page, err := cn.Webhooks.List(c.Request.Context(), q)
	if err != nil {
		cn.fail(c, err)
		return
	}
	eps, err := cn.Webhooks.EndpointStates(c.Request.Context())
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "webhooks", gin.H{"Page_": page, "Endpoints": eps, "Q": c.Request.URL.Query()})
}

func (cn *console) webhookPage(c *gin.Context) {
	d, err := cn.Webhooks.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "webhook", gin.H{"D": d, "Flash": c.Query("done")})
}

func (cn *console) webhookReplay(c *gin.Context) {
	d, err := cn.replayDelivery(c, c.Param("id"))
	if err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/webhooks/"+url.PathEscape(d.ID)+"?done=replay+queued")
}

func (cn *console) mailPage(c *gin.Context) {
	ms, err := cn.DevMail.List(c.Request.Context(), 100)
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, http.StatusOK, "mail", gin.H{"Mail": ms})
}

// kycErase (admin) deletes every document of the identity a case checks
// at once (its account, or the email reference of orders without an
// account id), like POST /api/v1/kyc/cases/{id}/erase.
func (cn *console) kycErase(c *gin.Context) {
	if cn.KYC == nil {
		cn.fail(c, errKYCOff)
		return
	}
	if _, err := cn.KYC.EraseCase(c.Request.Context(), c.PostForm("case"), auditActor(principal(c)), clientAddr(c)); err != nil {
		cn.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/console/kyc/"+url.PathEscape(c.PostForm("case"))+"?done=documents+erased")
}

// reviewsPage is the manual-review queue: held orders whose review is
// pending, oldest first, with their score and each fired rule's reason.
func (cn *console) reviewsPage(c *gin.Context) {
	if cn.Console.Reviews == nil {
		cn.fail(c, fmt.Errorf("%w: the manual-review queue is not available", kind.ErrNotFound))
		return
	}
	rs, err := cn.Console.Reviews.ReviewQueue(c.Request.Context(), orders.MaxReviewQueue)
	if err != nil {
		cn.fail(c, err)
		return
	}
	now := cn.now()
	ages := make([]int64, len(rs))
	for i, r := range rs {
		ages[i] = int64(now.Sub(r.CreatedAt).Seconds())
	}
	cn.render(c, http.StatusOK, "reviews", gin.H{"Orders": rs, "Ages": ages})
}
