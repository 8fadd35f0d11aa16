package emailverify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
)

// ErrRateLimited is returned (inside a *RateLimitedError) when a resend is
// over a limit; it maps to 429.
var ErrRateLimited = kind.New(kind.ErrRateLimited, "too many verification emails requested")

// RateLimitedError says which limit was hit and when to try again.
type RateLimitedError struct {
	Scope      string // "account", "address" or "api_client"
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s for this %s: retry in %s", ErrRateLimited, e.Scope, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// countScript counts one request against KEYS[1] in a fixed window of
// ARGV[1] milliseconds and returns the count and the milliseconds left. A
// key that lost its TTL (it should never) gets it back, so nothing is
// limited forever.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// limiter counts resends in Redis, shared by every gateway process. Keys
// are keyed hashes of what is counted (no raw address or account id in
// Redis), one key per counted thing (Cluster-safe).
type limiter struct {
	rdb    redis.Scripter
	prefix string
	key    []byte
	window time.Duration
}

// allow counts one request against (scope, id) with limit per window and
// returns a *RateLimitedError past it.
func (l *limiter) allow(ctx context.Context, scope, id string, limit int) error {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(scope + "\x00" + id))
	key := l.prefix + "resend:{" + scope + ":" + hex.EncodeToString(m.Sum(nil)[:16]) + "}"
	// Not cancelled with the request: a caller that hangs up at once is
	// still counted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisBudget)
	defer cancel()
	res, err := countScript.Run(ctx, l.rdb, []string{key}, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		return fmt.Errorf("counting resend for %s: %w: %w", scope, ErrUnavailable, err)
	}
	if len(res) != 2 {
		return fmt.Errorf("counting resend for %s: script returned %v: %w", scope, res, ErrUnavailable)
	}
	if int(res[0]) > limit {
		return &RateLimitedError{Scope: scope, RetryAfter: time.Duration(res[1]) * time.Millisecond}
	}
	return nil
}

// addrID is the unit an address is counted as: an IPv4 address, or the /64
// one IPv6 subscriber holds. An invalid address is counted in one shared
// bucket rather than not at all.
func addrID(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return "invalid"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
