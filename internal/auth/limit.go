package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
)

// ErrRateLimited is returned (inside a *RateLimitedError) when the caller's
// address has failed to authenticate too often; it maps to 429.
var ErrRateLimited = kind.New(kind.ErrRateLimited, "too many failed authentications")

// RateLimitedError says how long the address stays locked.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s from this address: retry in %s", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// Limiter bounds failed authentications per client address, counted in Redis
// so that every gateway process shares one count.
//
// The rule, and why:
//   - A caller with a valid credential never waits for Redis: success costs
//     no round trip, only a look at this process's memory.
//   - Each failure is one round trip (a script: INCR, PEXPIRE on the first,
//     PTTL) on a key of its own (Cluster-safe). Past Limit failures in
//     Window the address is locked until the key expires, and this process
//     remembers the lock.
//   - While an address is locked here, credentials from it are NOT checked
//     (429 at once), because a 429-or-200 answer would tell a guesser which
//     guess was right and the limit would bound nothing. The exception is a
//     credential that already succeeded from the same address recently (this
//     process remembers a hash of address and credential for rememberFor):
//     a storefront behind the same NAT as the attacker keeps working.
//   - The lock is learnt by each process from its own next failure (whose
//     count comes back from Redis over the limit), so across N processes a
//     guesser gets at most Limit + N checked guesses per window.
//   - Redis down: the failure is counted in this process instead (same
//     limit and window) and gateway_auth_limiter_errors_total goes up: not
//     open (guessing stays bounded per process), not closed (a valid
//     credential still works, because success never needs Redis).
//
// IPv6 addresses are counted per /64, the block one subscriber holds, so
// that walking through the addresses of one's own prefix does not reset the
// count.
type Limiter struct {
	rdb    redis.Scripter
	prefix string
	limit  int
	window time.Duration
	now    func() time.Time
	logger *slog.Logger

	failures     *prometheus.CounterVec
	limiterError prometheus.Counter

	mu     sync.RWMutex
	locked map[netip.Prefix]time.Time    // address -> locked until (as learnt here)
	good   map[goodKey]time.Time         // address+credential that succeeded -> remembered until
	local  map[netip.Prefix]localCounter // failures counted here while Redis is down
}

type goodKey struct {
	addr netip.Prefix
	cred [sha256.Size]byte
}

type localCounter struct {
	n     int
	reset time.Time
}

// Bounds of the process-local memory. Each map is pruned of expired entries
// when it reaches its bound; the good map then stops growing rather than
// evict (an attacker cannot add to it: only valid credentials do).
const (
	maxTracked  = 100_000
	rememberFor = 24 * time.Hour
	redisBudget = time.Second
)

// failScript counts one failure of KEYS[1] and returns the count and the
// milliseconds left in its window. A key that lost its TTL (it should never)
// gets it back, so no address is locked forever.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// NewLimiter builds the limiter of cfg (FailureLimit, FailureWindow) on rdb,
// under keys starting with prefix. reg may be nil.
func NewLimiter(cfg Config, rdb redis.Scripter, prefix string, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) (*Limiter, error) {
	if cfg.FailureLimit < 1 || cfg.FailureWindow < time.Second {
		return nil, fmt.Errorf("auth limiter: failure_limit %d and failure_window %s must be set (SetDefaults)", cfg.FailureLimit, cfg.FailureWindow)
	}
	l := &Limiter{
		rdb: rdb, prefix: prefix, limit: cfg.FailureLimit, window: cfg.FailureWindow, now: now, logger: logger,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_auth_failures_total",
			Help: "Failed authentications on the admin API, by outcome: denied (401) or rate_limited (429, credential not checked).",
		}, []string{"outcome"}),
		limiterError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_auth_limiter_errors_total",
			Help: "Failed authentications that could not be counted in Redis (counted in this process instead).",
		}),
		locked: map[netip.Prefix]time.Time{},
		good:   map[goodKey]time.Time{},
		local:  map[netip.Prefix]localCounter{},
	}
	l.failures.WithLabelValues("denied")
	l.failures.WithLabelValues("rate_limited")
	if reg != nil {
		for _, c := range []prometheus.Collector{l.failures, l.limiterError} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering auth metrics: %w", err)
			}
		}
	}
	return l, nil
}

// clientKey is the unit a failure is counted against: the peer's IPv4
// address, or its IPv6 /64. An address that does not parse is counted in one
// shared bucket (the zero Prefix) rather than not at all.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// blocked reports whether addr is locked (as this process knows) for a
// credential with hash cred, and for how long.
func (l *Limiter) blocked(addr netip.Prefix, cred [sha256.Size]byte) (time.Duration, bool) {
	now := l.now()
	l.mu.RLock()
	until, locked := l.locked[addr]
	known := l.good[goodKey{addr, cred}].After(now)
	l.mu.RUnlock()
	if !locked || !until.After(now) || known {
		return 0, false
	}
	l.failures.WithLabelValues("rate_limited").Inc()
	return until.Sub(now), true
}

// succeeded remembers that cred worked from addr. The write lock is taken
// only when the entry is missing or half expired, so a busy storefront costs
// a read lock per request.
func (l *Limiter) succeeded(addr netip.Prefix, cred [sha256.Size]byte) {
	now := l.now()
	k := goodKey{addr, cred}
	l.mu.RLock()
	fresh := l.good[k].After(now.Add(rememberFor / 2))
	l.mu.RUnlock()
	if fresh {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.good) >= maxTracked {
		pruneExpired(l.good, now)
		if len(l.good) >= maxTracked {
			return
		}
	}
	l.good[k] = now.Add(rememberFor)
}

// failed counts a failure of addr and reports whether the address is now
// over the limit (and for how long it stays locked).
func (l *Limiter) failed(ctx context.Context, addr netip.Prefix) (time.Duration, bool) {
	n, ttl, err := l.count(ctx, addr)
	if err != nil {
		l.limiterError.Inc()
		l.logger.WarnContext(ctx, "auth failure not counted in redis; counting in this process", "error", err)
		n, ttl = l.countLocally(addr)
	}
	if n <= l.limit {
		l.failures.WithLabelValues("denied").Inc()
		return 0, false
	}
	now := l.now()
	l.mu.Lock()
	if len(l.locked) >= maxTracked {
		pruneExpired(l.locked, now)
	}
	l.locked[addr] = now.Add(ttl)
	l.mu.Unlock()
	l.failures.WithLabelValues("rate_limited").Inc()
	return ttl, true
}

func (l *Limiter) count(ctx context.Context, addr netip.Prefix) (int, time.Duration, error) {
	// Not cancelled with the request: a guesser that hangs up at once must
	// still be counted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisBudget)
	defer cancel()
	key := l.prefix + "{" + addr.String() + "}"
	res, err := failScript.Run(ctx, l.rdb, []string{key}, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("counting auth failure of %s: %w", addr, err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("counting auth failure of %s: script returned %v", addr, res)
	}
	return int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}

func (l *Limiter) countLocally(addr netip.Prefix) (int, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.local[addr]
	if !c.reset.After(now) {
		if len(l.local) >= maxTracked {
			for k, v := range l.local {
				if !v.reset.After(now) {
					delete(l.local, k)
				}
			}
		}
		c = localCounter{reset: now.Add(l.window)}
	}
	c.n++
	l.local[addr] = c
	return c.n, c.reset.Sub(now)
}

func pruneExpired[K comparable](m map[K]time.Time, now time.Time) {
	for k, until := range m {
		if !until.After(now) {
			delete(m, k)
		}
	}
}
