package emailverify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/logctx"
)

// State is what the customer page says about a token.
type State int

// States of a token, as the page shows them.
const (
	StateInvalid  State = iota // forged, malformed, wrong audience: nothing can be done with it
	StateConfirm               // good and unused: GET shows the confirm button
	StateVerified              // just consumed: the email is verified
	StateAlready               // used before (or being used by another click right now)
	StateExpired               // good but past its exp: a new link may be sent to its email
	StateSent                  // a new link was queued
)

func (s State) String() string {
	switch s {
	case StateInvalid:
		return "invalid"
	case StateConfirm:
		return "confirm"
	case StateVerified:
		return "verified"
	case StateAlready:
		return "already verified"
	case StateExpired:
		return "expired"
	case StateSent:
		return "sent"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Timing of a consumption.
const (
	// claimLease is how long a claimed jti stays claimed before the call
	// to EmailVerified finishes: if this process dies in between, the
	// claim lapses and the link works again.
	claimLease = 30 * time.Second
	// verifyTimeout bounds the EmailVerified call, well inside the lease,
	// so that no second click can claim while the first still runs.
	verifyTimeout = 10 * time.Second
	// doneGrace keeps the "used" mark past the token's expiry, so a late
	// second click says "already verified" rather than offering a resend.
	doneGrace = 7 * 24 * time.Hour
	// redisBudget bounds each Redis call.
	redisBudget = 2 * time.Second
)

const doneValue = "done"

// releaseScript deletes KEYS[1] if it still holds this process's claim
// (ARGV[1]): a failed consumption gives the token back, and never deletes
// another click's claim or a done mark.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (s *Service) jtiKey(c *Claims) string { return s.d.Prefix + "jti:{" + c.ID + "}" }

// Status reads a token for the page's GET: it consumes nothing. Claims are
// returned for every state but StateInvalid.
func (s *Service) Status(ctx context.Context, token string) (State, *Claims, error) {
	c, err := s.tokens.Parse(token)
	if errors.Is(err, ErrInvalidToken) {
		return StateInvalid, nil, nil
	}
	used, rerr := s.used(ctx, c)
	if rerr != nil {
		return StateInvalid, nil, rerr
	}
	switch {
	case used:
		return StateAlready, c, nil
	case err != nil: // ErrExpiredToken
		return StateExpired, c, nil
	}
	return StateConfirm, c, nil
}

func (s *Service) used(ctx context.Context, c *Claims) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, redisBudget)
	defer cancel()
	n, err := s.d.Redis.Exists(ctx, s.jtiKey(c)).Result()
	if err != nil {
		return false, fmt.Errorf("reading verification token state: %w: %w", ErrUnavailable, err)
	}
	return n > 0, nil
}

// Verify consumes a token (the page's POST): at most once per jti, it calls
// EmailVerified and marks the jti used. When EmailVerified fails the claim
// is released and ErrUnavailable returned: the same link works again.
func (s *Service) Verify(ctx context.Context, token string) (State, *Claims, error) {
	c, err := s.tokens.Parse(token)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return StateInvalid, nil, nil
	case errors.Is(err, ErrExpiredToken):
		// An expired token is never consumed; it may still be known used.
		st, c, err := s.Status(ctx, token)
		return st, c, err
	}
	if s.d.Verifier == nil {
		return StateInvalid, nil, fmt.Errorf("verifying email: %w: the order lifecycle is not wired", ErrUnavailable)
	}
	key := s.jtiKey(c)
	claim := rand.Text()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisBudget)
	ok, err := s.d.Redis.SetNX(rctx, key, claim, claimLease).Result()
	cancel()
	if err != nil {
		return StateInvalid, nil, fmt.Errorf("claiming verification token: %w: %w", ErrUnavailable, err)
	}
	if !ok {
		return StateAlready, c, nil
	}
	// Not cancelled when the visitor leaves: a half-done verification
	// would leave the claim to lapse and the visitor with no answer.
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
	verr := s.d.Verifier.EmailVerified(vctx, c.Owner, c.Subject, c.Email, "customer")
	cancel()
	rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), redisBudget)
	defer cancel()
	if verr != nil {
		if err := releaseScript.Run(rctx, s.d.Redis, []string{key}, claim).Err(); err != nil {
			// The lease lapses by itself; the link works again then.
			s.d.Logger.WarnContext(ctx, "verification token claim not released; it lapses with its lease", "lease", claimLease, "error", err)
		}
		return StateInvalid, c, fmt.Errorf("recording email verification of %s/%s: %w: %w", c.Owner, c.Subject, ErrUnavailable, verr)
	}
	ttl := max(c.ExpiresAt.Sub(s.d.Now()), 0) + doneGrace
	if err := s.d.Redis.Set(rctx, key, doneValue, ttl).Err(); err != nil {
		// The account is verified (idempotently); only the mark is
		// missing, and the claim keeps the link used for its lease.
		s.d.Logger.WarnContext(ctx, "verification token not marked used", "error", err)
	}
	s.d.Logger.InfoContext(ctx, "email verified", "owner", c.Owner, "account", c.Subject, "email", logctx.MaskEmail(c.Email))
	return StateVerified, c, nil
}

// ResendFor sends a new link to the email of a token the page was given
// (valid or expired, never invalid, never one already used): the address
// comes from the signed token, never from the visitor. One resend per
// token: the message id derives from its jti, so clicking twice queues one
// mail.
func (s *Service) ResendFor(ctx context.Context, token string, from Requester) (State, *Claims, error) {
	st, c, err := s.Status(ctx, token)
	if err != nil || (st != StateConfirm && st != StateExpired) {
		return st, c, err
	}
	if err := s.resend(ctx, c.Owner, c.Subject, c.Email, from, "token:"+c.ID); err != nil {
		return st, c, err
	}
	return StateSent, c, nil
}
