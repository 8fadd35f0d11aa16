package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/screening"
)

// devMailbox is what the API needs of mail's *DevOutbox: the mail that
// embedded mode kept instead of sending.
type devMailbox interface {
	List(ctx context.Context, limit int) ([]mail.DevMail, error)
}

// listDevMail answers GET /api/v1/dev/mail (embedded mode only): the
// newest mail first, so that a person trying the gateway out can follow a
// verification link.
func (a *api) listDevMail(c *gin.Context) {
	limit, ok := a.limitParam(c, 20, mail.DevMailMax)
	if !ok {
		return
	}
	msgs, err := a.DevMail.List(c.Request.Context(), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, map[string]any{"messages": msgs})
}

// limitParam reads ?limit= (def when absent); on a bad value it answers 400
// and returns false.
func (a *api) limitParam(c *gin.Context, def, most int) (int, bool) {
	s := c.Query("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		a.fail(c, &screening.FieldError{Field: "limit", Problem: fmt.Sprintf("must be a number from 1 to %d", most)})
		return 0, false
	}
	return n, true
}
