package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/fakeclock"
	"github.com/vpsgate/gateway/internal/testenv"
)

const limitTestKey = "sk_live_abc" // the "shop" key of newAuth

// limitedAuth is one gateway process: its own Authenticator, Limiter,
// metrics and Redis client, sharing the Redis server and key prefix.
type limitedAuth struct {
	a   *Authenticator
	reg *prometheus.Registry
}

func newLimitedAuth(t *testing.T, rdb redis.Scripter, prefix string, limit int, c *fakeclock.Clock) limitedAuth {
	t.Helper()
	now := c.Now()
	base := newAuth(t, &now)
	cfg := Config{FailureLimit: limit, FailureWindow: time.Minute}
	reg := prometheus.NewRegistry()
	l, err := NewLimiter(cfg, rdb, prefix, c.Now, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	base.now = c.Now
	return limitedAuth{a: base.WithLimiter(l), reg: reg}
}

// try authenticates cred from peer and returns "ok", "401" or "429".
func (la limitedAuth) try(t *testing.T, peer, cred string) string {
	t.Helper()
	r, _ := http.NewRequest("GET", "/api/v1/orders/x", nil)
	r.RemoteAddr = peer
	r.Header.Set("Authorization", "Bearer "+cred)
	_, err := la.a.Authenticate(r)
	var rl *RateLimitedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &rl):
		if rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
			t.Errorf("RetryAfter = %s, want within the 1m window", rl.RetryAfter)
		}
		return "429"
	case errors.Is(err, ErrUnauthenticated):
		return "401"
	}
	t.Fatalf("Authenticate() = %v", err)
	return ""
}

func (la limitedAuth) failures(outcome string) float64 {
	return counterValue(la.a.limiter.failures.WithLabelValues(outcome))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestLimiterAcrossProcesses runs two Authenticators ("two gateway
// processes") on one Redis: failures on either count toward one limit per
// address, a locked address gets its guesses refused unchecked, and a
// credential that already worked from that address keeps working.
func TestLimiterAcrossProcesses(t *testing.T) {
	prefix := testenv.KeyPrefix(t)
	c := fakeclock.New(t0)
	const limit = 3
	a := newLimitedAuth(t, testenv.RedisClient(t), prefix, limit, c)
	b := newLimitedAuth(t, testenv.RedisClient(t), prefix, limit, c)
	const peer, other = "198.51.100.7:40000", "203.0.113.9:40000"
	officer, err := a.a.Mint("olga", RoleOfficer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		on         limitedAuth
		name, peer string
		cred       string
		want       string
	}{
		{a, "storefront works on A", peer, limitTestKey, "ok"},
		{a, "guess 1 on A", peer, "guess-1", "401"},
		{b, "guess 2 on B", peer, "guess-2", "401"},
		{a, "bad token on A counts too", peer, "a.b.c", "401"},
		{b, "guess 4 on B: over the limit", peer, "guess-4", "429"},
		// B knows the lock: nothing from peer is checked, not even a
		// valid key it never saw succeed from there (else 429-vs-200
		// would be an oracle).
		{b, "valid key unseen on B: refused unchecked", peer, limitTestKey, "429"},
		{b, "valid token unseen on B: refused unchecked", peer, officer, "429"},
		{b, "guess 5 on B: refused unchecked", peer, "guess-5", "429"},
		// A has not yet learnt the lock; its next failure teaches it.
		{a, "storefront still works on A", peer, limitTestKey, "ok"},
		{a, "guess 6 on A: over the limit", peer, "guess-6", "429"},
		{a, "storefront keeps working on A, remembered", peer, limitTestKey, "ok"},
		{a, "officer token never seen from peer on A", peer, officer, "429"},
		// The same /64 is the same subscriber; other addresses are not
		// affected.
		{b, "other address unaffected", other, "guess-x", "401"},
		{b, "other address valid", other, limitTestKey, "ok"},
	}
	for _, s := range steps {
		if got := s.on.try(t, s.peer, s.cred); got != s.want {
			t.Errorf("%s: Authenticate() = %s, want %s", s.name, got, s.want)
		}
	}

	// Refused-unchecked attempts do not reach Redis: 5 counted failures
	// (guess 1, 2, token, 4, 6) and no more.
	rdb := testenv.RedisClient(t)
	key := prefix + "{198.51.100.7/32}"
	if n, err := rdb.Get(context.Background(), key).Int(); err != nil || n != 5 {
		t.Errorf("GET %s = %d, %v; want 5", key, n, err)
	}
	if ttl, err := rdb.PTTL(context.Background(), key).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL %s = %s, %v; want within the 1m window", key, ttl, err)
	}
	if got, want := a.failures("denied")+b.failures("denied"), 4.0; got != want {
		t.Errorf("gateway_auth_failures_total{outcome=denied} = %v, want %v", got, want)
	}
	if got, want := a.failures("rate_limited")+b.failures("rate_limited"), 6.0; got != want {
		t.Errorf("gateway_auth_failures_total{outcome=rate_limited} = %v, want %v", got, want)
	}

	// The local lock ends when the window does.
	c.Advance(time.Minute + time.Second)
	if _, locked := b.a.limiter.blocked(clientKey(peer), [32]byte{}); locked {
		t.Error("peer still locked on B after the window")
	}
}

// TestLimiterIPv6Subscriber: the addresses of one /64 share a count, so
// walking through one's own prefix buys no guesses.
func TestLimiterIPv6Subscriber(t *testing.T) {
	c := fakeclock.New(t0)
	la := newLimitedAuth(t, testenv.RedisClient(t), testenv.KeyPrefix(t), 2, c)
	got := []string{
		la.try(t, "[2001:db8:1:2::1]:1", "g1"),
		la.try(t, "[2001:db8:1:2::2]:1", "g2"),
		la.try(t, "[2001:db8:1:2:ffff::3]:1", "g3"),
		la.try(t, "[2001:db8:1:3::1]:1", "g4"), // the next /64
	}
	want := []string{"401", "401", "429", "401"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d = %s, want %s (all: %v)", i+1, got[i], want[i], got)
		}
	}
}

// TestLimiterSuccessCostsNoRoundTrip: a valid credential never waits for
// Redis; a failure costs exactly one round trip.
func TestLimiterSuccessCostsNoRoundTrip(t *testing.T) {
	rdb := testenv.RedisClient(t)
	hook := &testenv.CountingHook{}
	rdb.AddHook(hook)
	c := fakeclock.New(t0)
	la := newLimitedAuth(t, rdb, testenv.KeyPrefix(t), 3, c)
	tok, _ := la.a.Mint("olga", RoleOfficer, time.Hour)
	hook.Reset()
	for i := range 50 {
		for _, cred := range []string{limitTestKey, tok} {
			if got := la.try(t, "192.0.2.1:1", cred); got != "ok" {
				t.Fatalf("attempt %d: %s", i, got)
			}
		}
	}
	if n := hook.RoundTrips(); n != 0 {
		t.Errorf("100 successful authentications cost %d Redis round trips, want 0", n)
	}
	la.try(t, "192.0.2.1:1", "wrong")
	// Script.Run is EVALSHA, then EVAL the first time the script is new
	// to the server: one round trip, or two once per server.
	if n := hook.RoundTrips(); n < 1 || n > 2 {
		t.Errorf("one failure cost %d Redis round trips, want 1 (2 when loading the script)", n)
	}
}

// TestLimiterRedisDown: with Redis unreachable, failures are counted in the
// process (the limit still holds) and valid credentials still work.
func TestLimiterRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.FreeAddr(t), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	c := fakeclock.New(t0)
	la := newLimitedAuth(t, rdb, "nowhere:", 2, c)
	var got []string
	for _, cred := range []string{"g1", "g2", "g3", limitTestKey} {
		got = append(got, la.try(t, "192.0.2.9:1", cred))
	}
	got = append(got, la.try(t, "192.0.2.10:1", limitTestKey))
	want := []string{"401", "401", "429", "429", "ok"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("attempts = %v, want %v", got, want)
	}
	if n := counterValue(la.a.limiter.limiterError); n != 3 {
		t.Errorf("gateway_auth_limiter_errors_total = %v, want 3", n)
	}
	mfs, err := la.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, mf := range mfs {
		names[mf.GetName()] = len(mf.GetMetric())
	}
	if names["gateway_auth_failures_total"] != 2 || names["gateway_auth_limiter_errors_total"] != 1 {
		t.Errorf("registered series = %v, want both families", names)
	}
}

func TestClientKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1:80", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1/32"},
		{"[2001:db8::1]:80", "2001:db8::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"garbage", "invalid Prefix"},
		{"", "invalid Prefix"},
	} {
		if got := clientKey(tt.in).String(); got != tt.want {
			t.Errorf("clientKey(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// BenchmarkAuthenticateSuccess measures what the limiter adds to a valid
// credential's check: no Redis (the client here points nowhere and is never
// called), two read locks and a map lookup.
func BenchmarkAuthenticateSuccess(b *testing.B) {
	now := t0
	plain := newAuth(b, &now)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	b.Cleanup(func() { rdb.Close() })
	l, err := NewLimiter(Config{FailureLimit: 10, FailureWindow: time.Minute}, rdb, "bench:", func() time.Time { return now }, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	limited := plain.WithLimiter(l)
	tok, _ := plain.Mint("olga", RoleOfficer, time.Hour)
	for _, c := range []struct {
		name string
		a    *Authenticator
		cred string
	}{
		{"api key/plain", plain, limitTestKey}, {"api key/limited", limited, limitTestKey},
		{"token/plain", plain, tok}, {"token/limited", limited, tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, _ := http.NewRequest("GET", "/api/v1/orders/x", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("Authorization", "Bearer "+c.cred)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
