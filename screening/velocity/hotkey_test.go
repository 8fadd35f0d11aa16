package velocity

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/vpsgate/gateway/screening/ident"
)

// TestHotKeyBounded pushes 20,000 orders through one /24 over ten days and
// checks that the prefix's keys stay bounded in size and memory, and that the
// counts stay within the documented error: exact while the window holds at
// most MaxEntries orders, else never below the truth and above it by at most
// the orders of one overflow bucket (window/60).
func TestHotKeyBounded(t *testing.T) {
	t.Parallel()
	const (
		maxEntries = 100
		orders     = 20_000
		batch      = 500
		step       = 43200 * time.Millisecond // 20,000 orders over 10 days
	)
	c, rdb := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = maxEntries })
	ctx := context.Background()
	prefix := netip.MustParsePrefix("203.0.113.0/24")

	times := make([]time.Time, orders)
	for i := range times {
		times[i] = t0.Add(time.Duration(i) * step)
	}
	// truth counts the orders in (now-w, now] among the first n+1.
	truth := func(n int, w time.Duration) int64 {
		start := times[n].Add(-w)
		first := sort.Search(n+1, func(j int) bool { return times[j].After(start) })
		return int64(n + 1 - first)
	}
	// slack is how many orders one overflow bucket of window wi can hold.
	slack := func(wi int) int64 {
		g := time.Duration(c.gran[wi]) * time.Millisecond
		return int64(g/step) + 1
	}

	var checked, exact int
	for lo := 0; lo < orders; lo += batch {
		pipe := rdb.Pipeline()
		results := make([]func(context.Context) (Counts, error), 0, batch)
		for i := lo; i < lo+batch; i++ {
			ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%250)})
			results = append(results, c.QueueRecord(ctx, pipe, times[i], Order{ID: "hot-" + strconv.Itoa(i), IP: ip}))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("batch at %d: %v", lo, err)
		}
		for k, res := range results {
			i := lo + k
			got, err := res(ctx)
			if err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
			for wi, w := range c.Windows() {
				name := "ip_prefix_" + Label(w)
				want := truth(i, w)
				lo, hi := want, want
				if want > maxEntries {
					hi = want + slack(wi)
				} else {
					exact++
				}
				if got[name] < lo || got[name] > hi {
					t.Fatalf("order %d at %s: %s = %d, want within [%d, %d] (true count %d)",
						i, times[i].Format(time.RFC3339), name, got[name], lo, hi, want)
				}
				checked++
			}
		}
	}
	t.Logf("checked %d counts of the hot prefix, %d of them required exact", checked, exact)

	stem := c.tag(ident.KindPrefix, prefix.String())
	if n := rdb.ZCard(ctx, stem+":z").Val(); n != maxEntries {
		t.Errorf("ZCARD %s:z = %d, want MaxEntries %d", stem, n, maxEntries)
	}
	// Per window: a sum, two bounds and at most span+1 buckets.
	maxFields := int64(len(c.Windows()) * (3 + bucketsPerWindow + 3))
	if n := rdb.HLen(ctx, stem+":o").Val(); n == 0 || n > maxFields {
		t.Errorf("HLEN %s:o = %d, want within [1, %d]", stem, n, maxFields)
	}
	var total int64
	for _, k := range []string{stem + ":z", stem + ":o"} {
		n, err := rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		total += n
	}
	// 100 entries of about 120 bytes plus about 180 small hash fields.
	if limit := int64(maxEntries*150 + 16*1024); total > limit {
		t.Errorf("MEMORY USAGE of the hot prefix = %d bytes, want at most %d", total, limit)
	}
	t.Logf("hot prefix after %d orders: %d bytes (sorted set of %d + overflow hash)", orders, total, maxEntries)
}

// TestMemoryPerEntry measures a full set at the default MaxEntries, the
// figure Config.MaxEntries documents.
func TestMemoryPerEntry(t *testing.T) {
	t.Parallel()
	c, rdb := sharedCounter(t, nil)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range DefaultMaxEntries {
		c.QueueRecord(ctx, pipe, t0.Add(time.Duration(i)*time.Second), Order{ID: fmt.Sprint("m", i), Email: "hot@example.com"})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	key := c.tag(ident.KindEmail, "hot@example.com") + ":z"
	n, err := rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	per := n / DefaultMaxEntries
	t.Logf("a full set of %d entries: %d bytes, %d per entry", DefaultMaxEntries, n, per)
	if per < 40 || per > 150 {
		t.Errorf("%d bytes per entry, want within [40, 150] as documented (about 120)", per)
	}
}
