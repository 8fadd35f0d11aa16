package velocity

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
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
	cfg := Config{KeyPrefix: testenv.KeyPrefix(t)}
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

// countingHook counts what a client sends: dials, single commands and
// pipelines (one pipeline is one write and one read on one connection).
type countingHook struct {
	dials, cmds, pipelines, pipelinedCmds atomic.Int64
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.pipelinedCmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (h *countingHook) reset() {
	h.dials.Store(0)
	h.cmds.Store(0)
	h.pipelines.Store(0)
	h.pipelinedCmds.Store(0)
}

// commandStats returns the calls per command from INFO commandstats.
func commandStats(t testing.TB, rdb redis.UniversalClient) map[string]int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	out := make(map[string]int64)
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("parsing %q: %v", line, err)
				}
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// commandUsec returns the total server time spent in cmd (INFO
// commandstats usec), including the commands a script calls.
func commandUsec(t testing.TB, rdb redis.UniversalClient, cmd string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
	}
	return 0
}
