package velocity

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/ident"
)

// t0 is an arbitrary fixed clock for tests: the script uses the caller's
// time, so tests move "now" instead of waiting.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testHasher(t testing.TB) *ident.Hasher {
	t.Helper()
	h, err := ident.NewHasher([]byte("velocity test key, 32 bytes long"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newClient returns a client of the server at url with the options the
// gateway uses (context deadlines cut reads short) and hooks.
func newClient(t testing.TB, url string, hooks ...redis.Hook) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parsing %q: %v", url, err)
	}
	opts.ContextTimeoutEnabled = true
	// No test here is about a slow server: the in-process server of
	// TestEmbeddedServerAgrees runs Lua under the race detector, and on a
	// loaded machine a script took longer than go-redis's 3 s default.
	opts.ReadTimeout, opts.WriteTimeout = 30*time.Second, 30*time.Second
	c := redis.NewClient(opts)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sharedCounter returns a Counter on the shared test Redis under a key
// prefix of the test's own, with cfg adjusted by mutate.
func sharedCounter(t testing.TB, mutate func(*Config)) (*Counter, *redis.Client) {
	t.Helper()
	rdb := newClient(t, testenv.RedisURL(t))
	// 2 s, not the production 250 ms: a loaded CI machine running -race
	// builds beside the tests must not turn slowness into failures. Tests
	// of the timeout itself set their own.
	cfg := Config{KeyPrefix: testenv.KeyPrefix(t), Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.SetDefaults()
	c, err := New(cfg, rdb, testHasher(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rdb
}

func record(t testing.TB, c *Counter, now time.Time, o Order) Counts {
	t.Helper()
	got, err := c.Record(context.Background(), now, o)
	if err != nil {
		t.Fatalf("Record(%s, %+v): %v", now.Format(time.RFC3339), o, err)
	}
	return got
}

// pick returns the named counts only, for focused comparisons.
func pick(c Counts, names ...string) Counts {
	out := make(Counts, len(names))
	for _, n := range names {
		v, ok := c[n]
		if !ok {
			v = -1 // shows up in a diff as "missing"
		}
		out[n] = v
	}
	return out
}
