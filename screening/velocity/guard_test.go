package velocity

import (
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// TestRecordUnless: with Order.Unless naming an existing key, Record counts
// nothing and says so; with the key absent it counts as without it. On real
// Redis and on the embedded server.
func TestRecordUnless(t *testing.T) {
	t.Parallel()
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		c, rdb := sharedCounter(t, nil)
		testUnless(t, c, rdb)
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		rdb := newClient(t, "redis://"+miniredis.RunT(t).Addr()+"/0")
		// A generous bound, as in TestEmbeddedServerAgrees: the embedded
		// server's Lua under the race detector is slow on a loaded machine.
		cfg := Config{Timeout: maxTimeout}
		cfg.SetDefaults()
		c, err := New(cfg, rdb, testHasher(t))
		if err != nil {
			t.Fatal(err)
		}
		testUnless(t, c, rdb)
	})
}

func testUnless(t *testing.T, c *Counter, rdb *redis.Client) {
	ctx := context.Background()
	guard := c.prefix + "order:{o1}"

	o := fullOrder(1)
	o.Unless = guard
	first := record(t, c, t0, o) // no record yet: counted
	if first["ip_1h"] != 1 || first["accounts_per_ip_1h"] != 1 || first["cards_per_account_1h"] != 1 {
		t.Fatalf("first Record = %v, want the order counted", first)
	}

	if err := rdb.HSet(ctx, guard, "fp", "x").Err(); err != nil {
		t.Fatal(err)
	}
	// Stored now: a different body under the same id (other IP, email,
	// account, card, address) counts nothing anywhere.
	other := Order{ID: o.ID, IP: ipV6, Email: "bob@example.com", Account: "77", Card: "555555:4444", Address: "us|1", Unless: guard}
	if got, err := c.Record(ctx, t0.Add(1), other); !errors.Is(err, ErrSkipped) || got != nil {
		t.Errorf("Record(guard key exists) = %v, %v; want nil, ErrSkipped", got, err)
	}
	other.Unless = ""
	other.ID = "probe" // a new order on the other identifiers: only itself counts
	got := record(t, c, t0.Add(2), other)
	want := Counts{"ip_1h": 1, "email_1h": 1, "account_1h": 1, "card_1h": 1, "address_1h": 1, "cards_per_account_1h": 1}
	if diff := cmp.Diff(want, pick(got, "ip_1h", "email_1h", "account_1h", "card_1h", "address_1h", "cards_per_account_1h")); diff != "" {
		t.Errorf("identifiers of the skipped order (-want +got):\n%s", diff)
	}

	// The guard is part of the one script call: still one command.
	keys, argv, err := c.Invocation(t0, o)
	if err != nil {
		t.Fatal(err)
	}
	if keys[0] != guard || argv[6+2*len(c.windows)-1] != "g" {
		t.Errorf("Invocation(guarded) keys[0] = %q, ops start %q; want the guard first", keys[0], argv[6+2*len(c.windows)-1])
	}
}

// TestRecordUnlessOrderWithoutIdentifiers: an order with nothing to count
// sends nothing, guard or not.
func TestRecordUnlessOrderWithoutIdentifiers(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	got, err := c.Record(context.Background(), t0, Order{ID: "bare", Unless: "whatever"})
	if err != nil || got["ip_1h"] != 0 {
		t.Errorf("Record(no identifiers) = %v, %v", got, err)
	}
}
