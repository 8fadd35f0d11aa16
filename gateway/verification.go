package gateway

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/orders"
)

// verificationResender is what the API needs of emailverify's *Service.
type verificationResender interface {
	Resend(ctx context.Context, owner, accountID, email string, from emailverify.Requester) error
}

// resendVerification is POST /api/v1/accounts/{id}/verification-email: a
// storefront asks for a new verification link for one of its own accounts
// (the account lives in the API key's namespace, as its orders do). Limited
// per account and per storefront address; 429 with Retry-After past it.
func (a *api) resendVerification(c *gin.Context) {
	if a.Verification == nil {
		a.fail(c, errVerificationOff)
		return
	}
	var in struct {
		Email string `json:"email"`
	}
	if !a.bindJSON(c, &in) {
		return
	}
	owner := string(orders.APIKeyOwner(principal(c).Name))
	ctx := logctx.With(c.Request.Context(), slog.String("account", c.Param("id")), slog.String("email", logctx.MaskEmail(in.Email)))
	err := a.Verification.Resend(ctx, owner, c.Param("id"), in.Email, emailverify.Requester{Addr: peerAddr(c.Request), API: true})
	if err != nil {
		if rl, ok := errors.AsType[*emailverify.RateLimitedError](err); ok {
			c.Writer.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		}
		c.Request = c.Request.WithContext(ctx)
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusAccepted, map[string]string{"status": "queued"})
}

// errVerificationOff: the gateway runs without email verification (no
// auth.jwt_secret or public_url); the API says so rather than 404.
var errVerificationOff = errors.New("email verification is not configured on this gateway (auth.jwt_secret and public_url)")
