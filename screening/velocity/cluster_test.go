package velocity

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
)

// startCluster starts a three-master Redis Cluster of the test's own and
// returns a client of it.
func startCluster(t *testing.T, hooks ...redis.Hook) *redis.ClusterClient {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var nodes []*redis.Client
	for range 3 {
		p := testenv.StartRedis(t, "--cluster-enabled", "yes", "--appendonly", "no")
		addrs = append(addrs, p.Addr())
		nodes = append(nodes, newClient(t, p.URL()))
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range nodes {
		if err := n.ClusterAddSlotsRange(ctx, ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE on %s: %v", addrs[i], err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := strings.Cut(a, ":")
		if err := nodes[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("CLUSTER MEET %s: %v", a, err)
		}
	}
	// Nodes learn of each other by gossip, which has no event to wait on:
	// poll each node's view until all agree the cluster is up.
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok := true
		for _, n := range nodes {
			info, err := n.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test cluster did not reach cluster_state:ok within 20s")
		}
		<-tick.C
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.ForEachShard(ctx, func(ctx context.Context, s *redis.Client) error { return s.Ping(ctx).Err() }); err != nil {
		t.Fatalf("pinging the cluster: %v", err)
	}
	return c
}

// TestCluster records the same history on a Redis Cluster and on a
// standalone server and expects the same counts: on Cluster each identifier's
// keys share a hash slot and its script runs on its own node, all in one
// pipeline (one round trip per node, sent together).
func TestCluster(t *testing.T) {
	hook := &testenv.CountingHook{}
	cluster := startCluster(t, hook)
	cfg := Config{MaxEntries: 16}
	cfg.SetDefaults()
	onCluster, err := New(cfg, cluster, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	if !onCluster.perTag {
		t.Fatal("a Counter on a ClusterClient must make one call per hash tag")
	}
	standalone, _ := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = 16 })

	ctx := context.Background()
	// Warm up: slot map, connections, scripts (NOSCRIPT then EVAL per node).
	record(t, onCluster, t0.Add(-time.Hour), Order{ID: "warm", IP: netip.MustParseAddr("192.0.2.1"), Email: "w@example.com", Account: "w", Card: "411111:0000", Address: "w"})
	record(t, standalone, t0.Add(-time.Hour), Order{ID: "warm", IP: netip.MustParseAddr("192.0.2.1"), Email: "w@example.com", Account: "w", Card: "411111:0000", Address: "w"})
	hook.Reset()

	const n = 40
	for i := range n {
		o := Order{
			ID:      "c" + strconv.Itoa(i%35), // the last five are retries
			IP:      netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 6)}),
			Email:   "e" + strconv.Itoa(i%4) + "@example.com",
			Account: strconv.Itoa(i % 3),
			Card:    "411111:000" + strconv.Itoa(i%5),
			Address: "us|" + strconv.Itoa(i%2),
		}
		if i%3 == 0 {
			// An older email form is read in a call of its own slot.
			o.OlderEmail = "e." + strconv.Itoa(i%4) + "@example.com"
		}
		now := t0.Add(time.Duration(i) * 5 * time.Minute)
		a, b := record(t, standalone, now, o), record(t, onCluster, now, o)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("order %d: standalone vs cluster (-standalone +cluster):\n%s", i, diff)
		}
		if _, err := onCluster.RecordEvent(ctx, now, EventPaymentFailed, o.Account, o.ID); err != nil {
			t.Fatalf("RecordEvent on cluster: %v", err)
		}
		if _, err := standalone.RecordEvent(ctx, now, EventPaymentFailed, o.Account, o.ID); err != nil {
			t.Fatalf("RecordEvent standalone: %v", err)
		}
	}
	if got := hook.Pipelines.Load(); got != 2*n {
		t.Errorf("cluster pipelines = %d, want %d (one per Record and per RecordEvent)", got, 2*n)
	}
	if got := hook.Cmds.Load(); got != 0 {
		t.Errorf("cluster single commands = %d, want 0", got)
	}

	// Unless cannot join calls of other slots: on a cluster it is ignored
	// (the package doc says what that costs), never a CROSSSLOT error.
	if err := cluster.Set(ctx, "guard-exists", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	guarded := Order{ID: "g1", IP: netip.MustParseAddr("198.51.100.99"), Email: "g@example.com", Account: "g", Unless: "guard-exists"}
	if got := record(t, onCluster, t0, guarded); got["ip_1h"] != 1 || got["account_1h"] != 1 {
		t.Errorf("Record(Unless) on a cluster = %v, want the order counted", got)
	}

	// The per-identifier calls are what makes this work: one call over all
	// keys is refused by a cluster.
	onCluster.perTag = false
	_, err = onCluster.Record(ctx, t0, Order{ID: "x", IP: netip.MustParseAddr("198.51.100.1"), Email: "x@example.com", Account: "x"})
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("one call over all keys on a cluster = %v, want a CROSSSLOT error", err)
	}
}
