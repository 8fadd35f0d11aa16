package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/orders"
)

// orderLinker links an intercepted checkout to the shop's own order id
// (orders' *Service).
type orderLinker interface {
	Link(ctx context.Context, a orders.Access, sid, orderID string) (orders.Result, error)
}

var errLinksOff = fmt.Errorf("%w: linking checkouts is not configured", kind.ErrUnavailable)

// linkOrder is POST /api/v1/orders/{screening_id}/link, body
// {"order_id": "<the shop's own id>"}: the storefront (its API key) links
// a checkout the gateway intercepted, known by the X-Screening-Id it was
// forwarded with, to the order it created for it. Afterwards
// GET /api/v1/orders/{order_id} with the same key finds the checkout, as
// does its screening id. Idempotent; another id for the same checkout, or
// the same id for another checkout, is 409.
func (a *api) linkOrder(c *gin.Context) {
	if a.Links == nil {
		a.fail(c, errLinksOff)
		return
	}
	var in struct {
		OrderID string `json:"order_id"`
	}
	if !a.bindJSON(c, &in) {
		return
	}
	acc, ok := a.access(c)
	if !ok {
		return
	}
	ctx := logctx.With(c.Request.Context(), slog.String("order_id", in.OrderID))
	res, err := a.Links.Link(ctx, acc, c.Param("id"), in.OrderID)
	if err != nil {
		c.Request = c.Request.WithContext(ctx)
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, res)
}
