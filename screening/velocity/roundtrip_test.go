package velocity

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/testenv"
)

func privateCounter(t *testing.T, url string) (*Counter, *testenv.CountingHook) {
	t.Helper()
	hook := &testenv.CountingHook{}
	rdb := newClient(t, url, hook)
	cfg := Config{}
	cfg.SetDefaults()
	c, err := New(cfg, rdb, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	return c, hook
}

func fullOrder(i int) Order {
	return Order{
		ID:      "rt-" + strconv.Itoa(i),
		IP:      ipA,
		Email:   "ann@example.com",
		Account: "42",
		Card:    "411111:1111",
		Address: "us|94107|san francisco|1 main st",
	}
}

// TestOneRoundTrip proves that recording an order with every identifier is
// one network round trip and one command: the client sends one pipeline of
// one EVALSHA (go-redis hooks), and the server executes one EVALSHA per
// order and nothing else at top level (INFO commandstats of a server of the
// test's own, so that no other test's commands mix in).
func TestOneRoundTrip(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	c, hook := privateCounter(t, srv.URL())
	stats := newClient(t, srv.URL()) // not hooked: reading statistics is not part of the count
	ctx := context.Background()

	// The first call on a fresh server meets NOSCRIPT and falls back to
	// EVAL, which caches the script; it also dials the connection.
	record(t, c, t0, fullOrder(0))
	hook.Reset()
	before := testenv.CommandStats(t, stats)

	const n = 50
	for i := 1; i <= n; i++ {
		record(t, c, t0.Add(time.Duration(i)*time.Second), fullOrder(i))
	}
	if got := hook.Pipelines.Load(); got != n {
		t.Errorf("pipelines sent = %d, want %d (one per order)", got, n)
	}
	if got := hook.PipelinedCmds.Load(); got != n {
		t.Errorf("commands in pipelines = %d, want %d (one EVALSHA per order)", got, n)
	}
	if got := hook.Cmds.Load(); got != 0 {
		t.Errorf("single commands = %d, want 0", got)
	}
	if got := hook.Dials.Load(); got != 0 {
		t.Errorf("dials = %d, want 0 (the connection is reused)", got)
	}

	after := testenv.CommandStats(t, stats)
	delta := make(map[string]int64)
	for name, st := range after {
		if d := st.Calls - before[name].Calls; d != 0 {
			delta[name] = d
		}
	}
	// The script's own commands (zadd, zcount, ...) are counted too; the
	// top-level ones are evalsha, and info (of the other client) for reading
	// these statistics.
	if delta["evalsha"] != n || delta["eval"] != 0 {
		t.Errorf("INFO commandstats deltas: evalsha %d, eval %d, want %d and 0", delta["evalsha"], delta["eval"], n)
	}
	for _, top := range []string{"hmget", "get", "exists", "ping", "multi", "exec"} {
		if delta[top] != 0 {
			t.Errorf("INFO commandstats: %d %s calls, want none outside the script", delta[top], top)
		}
	}
	t.Logf("server-side commands per order (inside the script): %v", delta)
	t.Logf("server time per order: %.1f us",
		float64(after["evalsha"].Usec)/float64(after["evalsha"].Calls))

	// An order carrying only an id needs no round trip at all.
	hook.Reset()
	if _, err := c.Record(ctx, t0, Order{ID: "nothing"}); err != nil {
		t.Fatal(err)
	}
	if got := hook.Pipelines.Load() + hook.Cmds.Load(); got != 0 {
		t.Errorf("Record(id only) sent %d pipelines/commands, want 0", got)
	}
}

// TestUnavailable stops Redis under the Counter: Record and RecordEvent fail
// with ErrUnavailable within the timeout, and work again once Redis is back
// (a restarted server has lost the script: EVALSHA falls back to EVAL), with
// the counts kept (append-only file) and the retried order counted once.
func TestUnavailable(t *testing.T) {
	srv := testenv.StartRedis(t)
	c, _ := privateCounter(t, srv.URL())
	ctx := context.Background()

	first := record(t, c, t0, fullOrder(1))
	srv.Stop()

	start := time.Now()
	_, err := c.Record(ctx, t0.Add(time.Second), fullOrder(2))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Record with Redis stopped = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*c.timeout {
		t.Errorf("Record with Redis stopped took %v, want about the %v timeout at most", d, c.timeout)
	}
	if _, err := c.RecordEvent(ctx, t0, EventRefund, "42", "rt-1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RecordEvent with Redis stopped = %v, want ErrUnavailable", err)
	}
	// A caller's deadline that has passed is "unavailable" too.
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, err := c.Record(expired, t0, fullOrder(2)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Record with an expired context = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}

	srv.Start()
	// The storefront retries order 1 (already counted) and sends order 2.
	again := record(t, c, t0.Add(2*time.Second), fullOrder(1))
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("retried order after the outage (-before +after):\n%s", diff)
	}
	got := record(t, c, t0.Add(3*time.Second), fullOrder(2))
	if got["ip_1h"] != 2 || got["email_24h"] != 2 {
		t.Errorf("after the outage ip_1h, email_24h = %d, %d, want 2, 2", got["ip_1h"], got["email_24h"])
	}
}
