package blocklist

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

// TestScreeningOneRoundTrip is the end-to-end claim: the velocity counters
// and the blocklist check of one order travel in a single pipeline, one
// network round trip, using QueueRecord and QueueCheck.
func TestScreeningOneRoundTrip(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	hook := &testenv.CountingHook{}
	rdb := newClient(t, srv.URL(), hook)
	h := testHasher(t)
	cfg := velocity.Config{Timeout: 2 * time.Second}
	cfg.SetDefaults()
	counter, err := velocity.New(cfg, rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	list := New(rdb, h, "", ident.EmailProvider)
	add(t, list, KindCIDR, "198.51.100.0/24", "hosting range")
	add(t, list, KindEmail, "ann@example.com", "chargeback")

	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.7")
	screen := func(id string) (velocity.Counts, []Hit) {
		t.Helper()
		pipe := rdb.Pipeline()
		counts := counter.QueueRecord(ctx, pipe, t0, velocity.Order{ID: id, IP: ip, Email: "ann@example.com", Account: "42", Card: "411111:1111"})
		hits := list.QueueCheck(ctx, pipe, Query{IP: ip, Email: "ann@example.com", Account: "42", Card: "411111:1111"})
		_, _ = pipe.Exec(ctx)
		c, err := counts(ctx)
		if err != nil {
			t.Fatalf("velocity: %v", err)
		}
		hs, err := hits(ctx)
		if err != nil {
			t.Fatalf("blocklist: %v", err)
		}
		return c, hs
	}
	screen("warm-up") // the script reaches the fresh server by EVAL; ranges load

	hook.Reset()
	for i, id := range []string{"o1", "o2", "o3"} {
		counts, hits := screen(id)
		if counts["ip_1h"] != int64(i+2) {
			t.Errorf("order %s: ip_1h = %d, want %d", id, counts["ip_1h"], i+2)
		}
		if got := kinds(hits); len(got) != 2 || got[0] != "cidr:hosting range" || got[1] != "email:chargeback" {
			t.Errorf("order %s: hits %v, want the range and the email", id, got)
		}
	}
	if p, c, d := hook.Pipelines.Load(), hook.Cmds.Load(), hook.Dials.Load(); p != 3 || c != 0 || d != 0 {
		t.Errorf("3 orders: %d pipelines, %d single commands, %d dials; want 3, 0, 0", p, c, d)
	}
	// Per order: 1 EVALSHA, 5 HMGETs, 1 GET.
	if got := hook.PipelinedCmds.Load(); got != 3*7 {
		t.Errorf("pipelined commands = %d, want %d", got, 3*7)
	}
}
