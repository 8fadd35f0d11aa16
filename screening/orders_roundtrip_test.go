package screening

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

// fusedStack is the orders service as cmd/gateway wires it, on real Redis:
// a Screener with the fused round trip over the real velocity counters and
// blocklist, and the real event outbox, all on one client. Only GeoIP and
// minFraud are fakes.
type fusedStack struct {
	rdb      *redis.Client
	hook     *testenv.CountingHook
	counter  *velocity.Counter
	outbox   *events.Outbox
	minfraud *fakeMinFraud
	screen   *countingScreener
	orders   *Orders
	clock    time.Time
}

// newFusedStack builds the stack on the server at url (the shared test
// Redis when url is ""), under a key prefix of the test's own, with the fake
// minFraud unless mf is given.
func newFusedStack(t testing.TB, url string, mf ...MinFraudScorer) *fusedStack {
	t.Helper()
	if url == "" {
		url = testenv.RedisURL(t)
	}
	prefix := testenv.KeyPrefix(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	hook := &testenv.CountingHook{}
	rdb.AddHook(hook)

	cfg := testConfig()
	cfg.KeyPrefix = prefix
	cfg.Velocity.KeyPrefix = prefix + "v:"
	h, err := ident.NewHasher([]byte(cfg.HashKey))
	if err != nil {
		t.Fatal(err)
	}
	counter, err := velocity.New(cfg.Velocity, rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture()
	var scorer MinFraudScorer = f.minfraud
	if len(mf) > 0 {
		scorer = mf[0]
	}
	screener, err := New(cfg, Deps{Locator: f.locator, Policy: euPolicy, Velocity: counter,
		Blocklist: blocklist.New(rdb, h, prefix+"bl:", ident.EmailProvider), MinFraud: scorer, Redis: rdb}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := &fusedStack{
		rdb: rdb, hook: hook, counter: counter, minfraud: f.minfraud,
		outbox: events.New(rdb, prefix+"events", 1000),
		screen: &countingScreener{next: screener},
		clock:  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	st.orders, err = NewOrders(cfg, rdb, OrderDeps{
		Screener: st.screen, Outbox: st.outbox, Velocity: &fakeEventRecorder{}, Blocklist: &fakeBlocklistAdder{},
	}, func() time.Time { return st.clock }, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if st.orders.rs == nil || st.orders.so == nil {
		t.Fatalf("orders service not fused: look-up in the screening round trip %v, one create script %v", st.orders.rs != nil, st.orders.so != nil)
	}
	return st
}

func (st *fusedStack) events(t *testing.T) []events.Stored {
	t.Helper()
	got, err := st.outbox.Range(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (st *fusedStack) minfraudCalls() int {
	st.minfraud.mu.Lock()
	defer st.minfraud.mu.Unlock()
	return len(st.minfraud.reqs)
}

// ipCount counts a probe order from ip with a fresh id: the IP's orders in
// the last hour, the probe included.
func (st *fusedStack) ipCount(t *testing.T, ip string) int64 {
	t.Helper()
	probe := velocity.Order{ID: fmt.Sprintf("probe-%d", time.Now().UnixNano()), IP: netip.MustParseAddr(ip)}
	c, err := st.counter.Record(context.Background(), st.clock, probe)
	if err != nil {
		t.Fatal(err)
	}
	return c["ip_1h"]
}

// TestSubmitRoundTrips is the claim of the issue, end to end: on a
// standalone server a new order is two Redis round trips (the screening
// pipeline, then the script that stores it and appends its event) and a
// replay is one, counted by a go-redis hook and by the server's INFO
// commandstats, on a server of the test's own.
func TestSubmitRoundTrips(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	st := newFusedStack(t, srv.URL())
	stats := redis.NewClient(&redis.Options{Addr: srv.Addr()}) // not hooked
	t.Cleanup(func() { stats.Close() })
	ctx := context.Background()
	order := func(i int) Order {
		o := exampleOrderValue()
		o.OrderID = fmt.Sprintf("RT-%d", i)
		o.IP = fmt.Sprintf("198.51.100.%d", i%5)
		o.Account.Email = fmt.Sprintf("c%d@example.com", i%7)
		return o
	}
	// Warm up: the scripts reach the fresh server by EVAL after NOSCRIPT,
	// and go-redis opens its connections.
	if _, err := st.orders.Submit(ctx, testOwner, order(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.orders.Submit(ctx, testOwner, order(0)); err != nil {
		t.Fatal(err)
	}
	before := testenv.CommandStats(t, stats)

	const n = 30
	for i := 1; i <= n; i++ {
		st.hook.Reset()
		if _, err := st.orders.Submit(ctx, testOwner, order(i)); err != nil {
			t.Fatal(err)
		}
		if p, c, d := st.hook.Pipelines.Load(), st.hook.Cmds.Load(), st.hook.Dials.Load(); p != 1 || c != 1 || d != 0 {
			t.Fatalf("new order %d: %d pipelines, %d single commands, %d dials; want 1, 1, 0", i, p, c, d)
		}
		st.hook.Reset()
		if _, err := st.orders.Submit(ctx, testOwner, order(i)); err != nil {
			t.Fatal(err)
		}
		if p, c := st.hook.Pipelines.Load(), st.hook.Cmds.Load(); p != 1 || c != 0 {
			t.Fatalf("replayed order %d: %d pipelines, %d single commands; want 1, 0", i, p, c)
		}
	}
	after := testenv.CommandStats(t, stats)
	delta := make(map[string]int64)
	for name, s := range after {
		if d := s.Calls - before[name].Calls; d != 0 {
			delta[name] = d
		}
	}
	// Top-level: per submission one screening pipeline (HMGET of the
	// record, 5 blocklist HMGETs, the ranges' version GET, the velocity
	// EVALSHA) and per new order the create script. Inside scripts: one
	// XADD per new order, and nothing of the separate publication path.
	want := map[string]int64{
		"evalsha": 3 * n, "eval": 0, "xadd": n, "get": 2 * n,
		"multi": 0, "exec": 0, "set": 0, "del": n, // del: the timeline, inside the script
	}
	got := make(map[string]int64)
	for name := range want {
		got[name] = delta[name]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("INFO commandstats deltas over %d new and %d replayed orders (-want +got):\n%s", n, n, diff)
	}
	t.Logf("server commands for %d new + %d replayed orders, scripts' own included: %v", n, n, delta)
	if calls := st.minfraudCalls(); calls != n+1 {
		t.Errorf("minFraud called %d times, want %d (never for a replay)", calls, n+1)
	}
}

// TestSubmitFusedIdempotent: replays and a conflicting body on the fused
// path: same answer, nothing counted twice, the conflicting body's own
// identifiers not counted at all, minFraud called once, one event.
func TestSubmitFusedIdempotent(t *testing.T) {
	t.Parallel()
	st := newFusedStack(t, "")
	ctx := context.Background()
	first, err := st.orders.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatal(err)
	}
	st.clock = st.clock.Add(time.Minute)
	again, err := st.orders.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatalf("Submit(same order) = %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("replay differs (-first +replay):\n%s", diff)
	}
	other := exampleOrderValue()
	other.IP = "203.0.113.9"
	other.Account.Email = "bob@example.com"
	if _, err := st.orders.Submit(ctx, testOwner, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("Submit(other body, same id) = %v, want ErrConflict", err)
	}
	if n := st.screen.calls.Load(); n != 1 {
		t.Errorf("screened %d times, want 1", n)
	}
	if n := st.minfraudCalls(); n != 1 {
		t.Errorf("minFraud called %d times, want 1", n)
	}
	if got := st.ipCount(t, "198.51.100.7"); got != 2 {
		t.Errorf("the order's IP: %d orders with a probe, want 2 (counted once)", got)
	}
	if got := st.ipCount(t, "203.0.113.9"); got != 1 {
		t.Errorf("the conflicting body's IP: %d orders with a probe, want 1 (not counted)", got)
	}
	if evs := st.events(t); len(evs) != 1 || evs[0].Type != events.OrderHeld {
		t.Errorf("outbox = %v, want one order.held", eventTypes(evs))
	}
}

// TestSubmitFusedConcurrent: eight submissions of one id race, half with
// another body: one body wins, its submissions all get its answer, the
// others conflict, and exactly one event is published.
func TestSubmitFusedConcurrent(t *testing.T) {
	t.Parallel()
	st := newFusedStack(t, "")
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			o := exampleOrderValue()
			if i%2 == 1 {
				o.Amount = "99.00"
			}
			results[i], errs[i] = st.orders.Submit(ctx, testOwner, o)
		})
	}
	close(start)
	wg.Wait()
	var winners, conflicts int
	for i := range n {
		switch {
		case errs[i] == nil:
			winners++
			if !cmp.Equal(results[i], results[0]) && errs[0] == nil {
				t.Errorf("submission %d got %+v, submission 0 got %+v", i, results[i], results[0])
			}
		case errors.Is(errs[i], ErrConflict):
			conflicts++
		default:
			t.Errorf("submission %d: %v", i, errs[i])
		}
	}
	if winners != n/2 || conflicts != n/2 {
		t.Errorf("%d successes and %d conflicts, want %d and %d", winners, conflicts, n/2, n/2)
	}
	if evs := st.events(t); len(evs) != 1 {
		t.Errorf("outbox has %v, want exactly one event", eventTypes(evs))
	}
	if got := st.ipCount(t, "198.51.100.7"); got != 2 {
		t.Errorf("IP count with a probe = %d, want 2 (the order once)", got)
	}
}

// failCreate is a hook that fails the create-and-publish script once:
// before sending it (Redis unreachable), or after it ran (the reply lost).
type failCreate struct {
	afterRun bool
	armed    atomic.Bool
}

func (h *failCreate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failCreate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if cmd.Name() != "evalsha" || len(args) < 2 || args[1] != createPublishScript.Hash() || !h.armed.CompareAndSwap(true, false) {
			return next(ctx, cmd)
		}
		if h.afterRun {
			if err := next(ctx, cmd); err != nil {
				return err
			}
		}
		err := errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")
		cmd.SetErr(err)
		return err
	}
}

func (h *failCreate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestSubmitFusedStoreFails: the script storing the order fails, before
// running or after (reply lost). Either way the caller gets ErrUnavailable,
// and the storefront's retry ends with the order stored once, its event
// published once, and its identifiers counted once.
func TestSubmitFusedStoreFails(t *testing.T) {
	t.Parallel()
	for _, afterRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("after_run=%v", afterRun), func(t *testing.T) {
			t.Parallel()
			st := newFusedStack(t, "")
			hook := &failCreate{afterRun: afterRun}
			st.rdb.AddHook(hook)
			ctx := context.Background()
			if _, err := st.orders.Submit(ctx, testOwner, exampleOrderValue()); err != nil { // loads the scripts
				t.Fatal(err)
			}
			o := exampleOrderValue()
			o.OrderID = "FAIL-1"
			hook.armed.Store(true)
			if _, err := st.orders.Submit(ctx, testOwner, o); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Submit(store fails) = %v, want ErrUnavailable", err)
			}
			wantEvents := 1
			if afterRun {
				wantEvents = 2
			}
			if _, err := st.orders.Get(ctx, testAccess, "FAIL-1"); afterRun != (err == nil) {
				t.Errorf("Get after the failure = %v; stored: want %v", err, afterRun)
			}
			if evs := st.events(t); len(evs) != wantEvents {
				t.Errorf("outbox after the failure = %v, want %d events (all or nothing)", eventTypes(evs), wantEvents)
			}
			res, err := st.orders.Submit(ctx, testOwner, o)
			if err != nil {
				t.Fatalf("retry Submit() = %v", err)
			}
			if res.OrderID != "FAIL-1" || res.Status != StatusHeld {
				t.Errorf("retry Submit() = %+v", res)
			}
			if _, err := st.orders.Submit(ctx, testOwner, o); err != nil {
				t.Fatal(err)
			}
			if evs := st.events(t); len(evs) != 2 {
				t.Errorf("outbox = %v, want one event per order", eventTypes(evs))
			}
			// Both orders share the IP: counted once each, whatever failed.
			if got := st.ipCount(t, o.IP); got != 3 {
				t.Errorf("IP count with a probe = %d, want 3", got)
			}
			wantScreens := int32(3) // warm-up, first attempt, retry
			if afterRun {
				wantScreens = 2 // the retry is a replay
			}
			if n := st.screen.calls.Load(); n != wantScreens {
				t.Errorf("screened %d times, want %d", n, wantScreens)
			}
		})
	}
}

// TestSubmitFusedRedisDown: with Redis unreachable the one pipeline fails
// before anything else happens: ErrUnavailable, and minFraud is not even
// called.
func TestSubmitFusedRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	st := newFusedStack(t, srv.URL())
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.orders.Submit(ctx, testOwner, exampleOrderValue()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Submit(Redis down) = %v, want ErrUnavailable", err)
	}
	if n := st.minfraudCalls(); n != 0 {
		t.Errorf("minFraud called %d times with Redis down, want 0", n)
	}
	srv.Start()
	if _, err := st.orders.Submit(ctx, testOwner, exampleOrderValue()); err != nil {
		t.Errorf("Submit after Redis came back = %v", err)
	}
}

// TestScreenStoredMeanwhile: the record appears between the look-up and the
// velocity script (a concurrent submission stored it): nothing is counted
// and Screen returns what is stored, read again. The race is staged with a
// record that has none of the looked-up fields when the pipeline runs, and
// gets them just after it.
func TestScreenStoredMeanwhile(t *testing.T) {
	t.Parallel()
	st := newFusedStack(t, "")
	ctx := context.Background()
	key := st.orders.recordKey("RACE-1")
	if err := st.rdb.HSet(ctx, key, "other", "1").Err(); err != nil {
		t.Fatal(err)
	}
	st.rdb.AddHook(afterPipeline(func() {
		if err := st.rdb.HSet(ctx, key, "fp", "abc", "result", "{}").Err(); err != nil {
			t.Error(err)
		}
	}))
	s := st.screen.next.(*Screener)
	o := exampleOrderValue()
	o.OrderID = "RACE-1"
	_, vals, err := s.screenUnlessStored(ctx, o, st.clock, recordCheck{key: key, fields: recordFields})
	if err != nil {
		t.Fatalf("screenUnlessStored() = %v", err)
	}
	if diff := cmp.Diff([]any{"abc", "{}", nil}, vals); diff != "" {
		t.Errorf("stored values (-want +got):\n%s", diff)
	}
	if got := st.ipCount(t, o.IP); got != 1 {
		t.Errorf("IP count with a probe = %d, want 1 (the order not counted)", got)
	}
	if n := st.minfraudCalls(); n != 0 {
		t.Errorf("minFraud called %d times, want 0", n)
	}

	// A record that vanishes again cannot be answered for: unavailable,
	// the storefront retries.
	key2 := st.orders.recordKey("RACE-2")
	if err := st.rdb.HSet(ctx, key2, "other", "1").Err(); err != nil {
		t.Fatal(err)
	}
	o.OrderID = "RACE-2"
	if _, _, err := s.screenUnlessStored(ctx, o, st.clock, recordCheck{key: key2, fields: recordFields}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("screenUnlessStored(record vanished) = %v, want ErrUnavailable", err)
	}
}

// afterPipeline is a hook that calls fn once, after the first pipeline.
type afterPipeline func()

func (f afterPipeline) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (f afterPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f afterPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	var once sync.Once
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		once.Do(f)
		return err
	}
}

// TestSubmitEmbeddedServer: the zero-config mode's in-process server
// (miniredis) runs the fused path's scripts too.
func TestSubmitEmbeddedServer(t *testing.T) {
	t.Parallel()
	st := newFusedStack(t, "redis://"+miniredis.RunT(t).Addr()+"/0")
	ctx := context.Background()
	first, err := st.orders.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	again, err := st.orders.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil || !cmp.Equal(first, again) {
		t.Errorf("replay = %+v, %v; want %+v", again, err, first)
	}
	other := exampleOrderValue()
	other.IP = "203.0.113.9"
	if _, err := st.orders.Submit(ctx, testOwner, other); !errors.Is(err, ErrConflict) {
		t.Errorf("Submit(other body) = %v, want ErrConflict", err)
	}
	if got := st.ipCount(t, "203.0.113.9"); got != 1 {
		t.Errorf("the conflicting body's IP: %d with a probe, want 1", got)
	}
	evs := st.events(t)
	if len(evs) != 1 || evs[0].Type != events.OrderHeld {
		t.Fatalf("outbox = %v, want one order.held", eventTypes(evs))
	}
	var data Result
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || !cmp.Equal(data, first) {
		t.Errorf("order.held data = %s (%v), want the Result", evs[0].Data, err)
	}
	_, tl, err := st.orders.Timeline(ctx, testAccess, first.OrderID)
	if err != nil || len(tl) != 1 || tl[0].Detail != "decision accept, score 0, status held" {
		t.Errorf("Timeline() = %+v, %v", tl, err)
	}
}
