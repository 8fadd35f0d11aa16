package webhooks_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/webhooks"
)

// Environment of the helper process of TestKilledWorkerDeliveriesTakenOver.
const (
	envHelper   = "WEBHOOKS_TEST_HELPER"
	envRedis    = "WEBHOOKS_TEST_REDIS" // URL, or "cluster:" + addrs
	envPrefix   = "WEBHOOKS_TEST_PREFIX"
	envReceiver = "WEBHOOKS_TEST_RECEIVER"
)

func helperClient(spec string) redis.UniversalClient {
	if addrs, ok := strings.CutPrefix(spec, "cluster:"); ok {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	}
	opts, err := redis.ParseURL(spec)
	if err != nil {
		panic(err)
	}
	return redis.NewClient(opts)
}

func killConfig(url string) webhooks.Config {
	cfg := fastConfig(webhooks.Endpoint{Name: "prov", URL: url, Secret: specSecret, MaxInFlight: 10, Timeout: 60 * time.Second})
	cfg.ClaimAfter = 61 * time.Second // the helper never takes anything over
	return cfg
}

// TestWebhookHelperProcess is the gateway process that dies: it sends
// until it is killed. It does nothing in a normal test run.
func TestWebhookHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("helper process of TestKilledWorkerDeliveriesTakenOver")
	}
	rdb := helperClient(os.Getenv(envRedis))
	svc, err := webhooks.New(killConfig(os.Getenv(envReceiver)), rdb, webhooks.Options{
		Prefix: os.Getenv(envPrefix), Events: os.Getenv(envPrefix) + "events", Consumer: "doomed", Poll: 50 * time.Millisecond,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("running")
	svc.Run(context.Background())
}

// TestKilledWorkerDeliveriesTakenOver: a gateway process (a second
// process: this test binary re-executed) is killed with SIGKILL while
// its attempts are in flight; another process takes its deliveries over
// after claim_after and delivers them, with the same webhook-ids.
func TestKilledWorkerDeliveriesTakenOver(t *testing.T) {
	run := func(t *testing.T, rdb redis.UniversalClient, spec, prefix string) {
		var acking atomic.Bool
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !acking.Load() {
				<-r.Context().Done() // held until the sender dies
				return false
			}
			w.WriteHeader(http.StatusOK)
			return true
		})
		cfg := killConfig(rc.url())
		h := newHarness(t, rdb, prefix, cfg, "survivor")
		const n = 5
		var ids []string
		for i := range n {
			ids = append(ids, webhooks.DeliveryID("prov", h.orderEvent("order.cleared", fmt.Sprintf("scr_k%d", i), 2)))
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestWebhookHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envHelper+"=1", envRedis+"="+spec, envPrefix+"="+prefix, envReceiver+"="+rc.url())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				t.Log("helper:", sc.Text())
			}
		}()
		waitFor(t, "the helper's attempts in flight", func() bool { return len(rc.requests()) == n })
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		_ = cmd.Wait()
		for _, id := range ids {
			if s := h.state(id); s != webhooks.StatePending {
				t.Fatalf("delivery %s is %s after the kill", id, s)
			}
		}
		acking.Store(true)
		// The survivor takes over once the entries are idle for claim_after.
		cfg.ClaimAfter = 500 * time.Millisecond
		for i := range cfg.Endpoints {
			cfg.Endpoints[i].Timeout = 400 * time.Millisecond
		}
		h2 := newHarness(t, rdb, prefix, cfg, "survivor")
		h2.run()
		waitFor(t, "every delivery after the take-over", func() bool { return len(rc.ackedIDs()) == n })
		for _, id := range ids {
			if got := rc.ackedIDs()[id]; got != 1 {
				t.Errorf("delivery %s acknowledged %d times", id, got)
			}
			waitFor(t, "the delivery recorded", func() bool { return h2.state(id) == webhooks.StateDelivered })
		}
		seen := map[string]int{}
		for _, r := range rc.requests() {
			seen[r.ID]++
		}
		for _, id := range ids {
			if seen[id] != 2 {
				t.Errorf("webhook-id %s seen %d times, want 2 (the killed attempt and the take-over)", id, seen[id])
			}
		}
		checkSigned(t, rc.requests(), specSecret)
	}
	t.Run("standalone", func(t *testing.T) {
		run(t, testenv.RedisClient(t), testenv.RedisURL(t), testenv.KeyPrefix(t))
	})
	t.Run("cluster", func(t *testing.T) {
		c, prefix := testenv.RedisClusterClient(t)
		run(t, c, "cluster:"+strings.Join(testenv.RedisClusterAddrs(t), ","), prefix)
	})
}

// TestRedisRestartKeepsDeliveries: Redis with an append-only file synced
// on every write is stopped and started again while deliveries wait for
// their retry and after others were acknowledged: nothing acknowledged is
// lost or sent again, and the waiting ones are delivered.
func TestRedisRestartKeepsDeliveries(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	var healthy atomic.Bool
	healthy.Store(true)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		w.WriteHeader(http.StatusOK)
		return true
	})
	cfg := fastConfig(webhooks.Endpoint{Name: "prov", URL: rc.url(), Secret: specSecret})
	cfg.RetrySchedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	h := newHarness(t, rdb, "p:", cfg, "w1")
	h.run()
	var acked, waiting []string
	for i := range 10 {
		acked = append(acked, webhooks.DeliveryID("prov", h.orderEvent("order.cleared", fmt.Sprintf("scr_a%d", i), 2)))
	}
	waitFor(t, "the first deliveries", func() bool { return len(rc.ackedIDs()) == 10 })
	for _, id := range acked {
		waitFor(t, "the delivery recorded", func() bool { return h.state(id) == webhooks.StateDelivered })
	}
	healthy.Store(false)
	for i := range 10 {
		waiting = append(waiting, webhooks.DeliveryID("prov", h.orderEvent("order.held", fmt.Sprintf("scr_w%d", i), 1)))
	}
	for _, id := range waiting {
		waitFor(t, "a failed attempt", func() bool { d, err := h.svc.Get(context.Background(), id); return err == nil && d.Attempts >= 1 })
	}
	srv.Stop()
	srv.Start()
	healthy.Store(true)
	waitFor(t, "the waiting deliveries after the restart", func() bool { return len(rc.ackedIDs()) == 20 })
	for _, id := range waiting {
		waitFor(t, "the delivery recorded", func() bool { return h.state(id) == webhooks.StateDelivered })
	}
	got := rc.ackedIDs()
	for _, id := range acked {
		if got[id] != 1 {
			t.Errorf("acknowledged delivery %s was acknowledged %d times", id, got[id])
		}
		if h.state(id) != webhooks.StateDelivered {
			t.Errorf("acknowledged delivery %s is %s after the restart", id, h.state(id))
		}
	}
}

// TestOutboxTrimmedOnlyWhenAcknowledged: the outbox keeps every event a
// consumer group has not acknowledged, and trims the rest.
func TestOutboxTrimmedOnlyWhenAcknowledged(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		rc := newReceiver(t, nil)
		h := newHarness(t, rdb, prefix, fastConfig(webhooks.Endpoint{Name: "prov", URL: rc.url(), Secret: specSecret}), "w1")
		ctx := context.Background()
		key := h.outbox.Key()
		// Another consumer of the stream that has read nothing yet.
		if err := rdb.XGroupCreate(ctx, key, "other", "0").Err(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			h.orderEvent("order.held", fmt.Sprintf("scr_%d", i), 1)
		}
		if n, err := h.svc.FanoutOnce(ctx, false, 0); err != nil || n != 5 {
			t.Fatalf("FanoutOnce = %d, %v", n, err)
		}
		for i := range 3 {
			h.orderEvent("order.held", fmt.Sprintf("scr_late%d", i), 1)
		}
		if _, err := h.svc.FanoutOnce(ctx, true, 0); err != nil {
			t.Fatal(err)
		}
		if n := rdb.XLen(ctx, key).Val(); n != 8 {
			t.Fatalf("with a group that read nothing, the outbox has %d entries, want 8", n)
		}
		if err := rdb.XGroupDestroy(ctx, key, "other").Err(); err != nil {
			t.Fatal(err)
		}
		// Three more events; another consumer of the group reads two and
		// acknowledges neither: the oldest unacknowledged stays, with
		// everything after it, and everything before it goes.
		for i := range 3 {
			h.orderEvent("order.held", fmt.Sprintf("scr_later%d", i), 1)
		}
		if _, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhooks", Consumer: "slow", Streams: []string{key, ">"}, Count: 2, Block: -1}).Result(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.FanoutOnce(ctx, true, 0); err != nil {
			t.Fatal(err)
		}
		left, err := rdb.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 3 {
			t.Fatalf("the outbox has %d entries, want the 3 newest (2 unacknowledged, 1 after them)", len(left))
		}
	})
}
