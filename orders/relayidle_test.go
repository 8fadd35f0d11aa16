package orders

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// An idle relay on a standalone server costs one command a pass (one
// XREADGROUP over every shard), not one per shard, and still relays what
// arrives after it went idle.
func TestRelayIdleGlance(t *testing.T) {
	_, rdb := privateRedis(t)
	hook := &testenv.CountingHook{}
	rdb.AddHook(hook)
	st := newStack(t, rdb, "idle:", emailOnly, "p1")
	st.relay.d.ClaimAfter = time.Hour // no maintenance pass after the first
	ctx := context.Background()

	if _, err := st.svc.Submit(ctx, shop, testOrder("IDLE-1", "a1", "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	st.drain(t) // makes every shard's group; ends with an empty pass

	hook.Reset()
	n, err := st.relay.RunOnce(ctx)
	if err != nil || n != 0 {
		t.Fatalf("idle RunOnce = %d, %v, want 0, nil", n, err)
	}
	if c, p := hook.Cmds.Load(), hook.Pipelines.Load(); c != 1 || p != 0 {
		t.Errorf("idle pass sent %d commands and %d pipelines, want 1 and 0", c, p)
	}

	res, err := st.svc.Submit(ctx, shop, testOrder("IDLE-2", "a2", "a2@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	n, err = st.relay.RunOnce(ctx)
	if err != nil || n == 0 {
		t.Fatalf("RunOnce after a new order = %d, %v, want its entries relayed", n, err)
	}
	found := false
	for _, e := range st.published(t) {
		found = found || (e.Type == "order.held" && strings.Contains(string(e.Data), res.ScreeningID))
	}
	if !found {
		t.Errorf("order.held of %s not in the outbox after the idle relay's pass", res.ScreeningID)
	}
	for sh := range Shards {
		if n, err := rdb.XLen(ctx, st.svc.pendingKey(sh)).Result(); err != nil || n != 0 {
			t.Errorf("shard %d: %d entries still pending (%v)", sh, n, err)
		}
	}
}
