package velocity

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
)

// TestEmbeddedServerAgrees runs one history, hot key and events included,
// on real Redis and on the in-process server of the zero-config mode
// (miniredis, internal/embedded), which must run the same script with the
// same results.
func TestEmbeddedServerAgrees(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	// The in-process server runs the script in a Lua interpreter written
	// in Go, here under the race detector: on a loaded machine one call
	// took longer than the 250 ms default (an "i/o timeout" failure). This
	// test is about the counts agreeing, not about speed.
	cfg := Config{MaxEntries: 16, Timeout: maxTimeout}
	cfg.SetDefaults()
	embedded, err := New(cfg, newClient(t, "redis://"+mr.Addr()+"/0"), testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	real, _ := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = 16 })

	ctx := context.Background()
	for i := range 120 {
		o := Order{
			ID:      "e" + strconv.Itoa(i%110),
			IP:      netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 5)}),
			Email:   "e" + strconv.Itoa(i%3) + "@example.com",
			Account: strconv.Itoa(i % 4),
			Card:    "411111:000" + strconv.Itoa(i%6),
		}
		now := t0.Add(time.Duration(i) * 11 * time.Minute)
		a, b := record(t, real, now, o), record(t, embedded, now, o)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("order %d: Redis vs embedded (-redis +embedded):\n%s", i, diff)
		}
		if i%7 == 0 {
			a, errA := real.RecordEvent(ctx, now, EventRefund, o.Account, o.ID)
			b, errB := embedded.RecordEvent(ctx, now, EventRefund, o.Account, o.ID)
			if errA != nil || errB != nil {
				t.Fatalf("RecordEvent: %v, %v", errA, errB)
			}
			if diff := cmp.Diff(a, b); diff != "" {
				t.Fatalf("event %d: Redis vs embedded (-redis +embedded):\n%s", i, diff)
			}
		}
	}
}
