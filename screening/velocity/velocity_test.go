package velocity

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/screening/ident"
)

var (
	ipA   = netip.MustParseAddr("198.51.100.7")
	ipB   = netip.MustParseAddr("198.51.100.8") // same /24 as ipA
	ipV6  = netip.MustParseAddr("2001:db8:1:2::7")
	ipV6b = netip.MustParseAddr("2001:db8:1:2::8") // same /64
)

func TestRecordWindows(t *testing.T) {
	t.Parallel()
	c, rdb := sharedCounter(t, nil)
	addr := ident.NormalizeAddress("US", "94107", "San Francisco", "1 Main St")

	steps := []struct {
		name string
		at   time.Duration // after t0
		o    Order
		want Counts
	}{
		{
			name: "first order",
			o:    Order{ID: "o1", IP: ipA, Email: "ann@example.com", Account: "42", Card: "411111:1111", Address: addr},
			want: Counts{
				"ip_1h": 1, "ip_24h": 1, "ip_7d": 1,
				"ip_prefix_1h": 1, "email_1h": 1, "account_1h": 1, "card_1h": 1, "address_1h": 1, "address_7d": 1,
				"accounts_per_ip_1h": 1, "cards_per_account_1h": 1,
				"payment_failed_account_7d": 0, "chargeback_account_1h": 0,
			},
		},
		{
			name: "same prefix and email, other account and card, no address",
			at:   30 * time.Minute,
			o:    Order{ID: "o2", IP: ipB, Email: "ann@example.com", Account: "43", Card: "411111:2222"},
			want: Counts{
				"ip_1h": 1, "ip_24h": 1, "ip_7d": 1,
				"ip_prefix_1h": 2, "email_1h": 2, "account_1h": 1, "card_1h": 1, "address_1h": 0, "address_7d": 0,
				"accounts_per_ip_1h": 1, "cards_per_account_1h": 1,
				"payment_failed_account_7d": 0, "chargeback_account_1h": 0,
			},
		},
		{
			// The window is (now-1h, now]: o1, exactly 1 h old, has left it.
			name: "one hour later",
			at:   time.Hour,
			o:    Order{ID: "o3", IP: ipA, Email: "ann@example.com", Account: "42", Card: "411111:1111", Address: addr},
			want: Counts{
				"ip_1h": 1, "ip_24h": 2, "ip_7d": 2,
				"ip_prefix_1h": 2, "email_1h": 2, "account_1h": 1, "card_1h": 1, "address_1h": 1, "address_7d": 2,
				"accounts_per_ip_1h": 1, "cards_per_account_1h": 1,
				"payment_failed_account_7d": 0, "chargeback_account_1h": 0,
			},
		},
		{
			name: "next day, new account on the IP",
			at:   25 * time.Hour,
			o:    Order{ID: "o4", IP: ipA, Account: "44"},
			want: Counts{
				"ip_1h": 1, "ip_24h": 1, "ip_7d": 3,
				"ip_prefix_1h": 1, "email_1h": 0, "account_1h": 1, "card_1h": 0, "address_1h": 0, "address_7d": 0,
				"accounts_per_ip_1h": 1, "cards_per_account_1h": 0,
				"payment_failed_account_7d": 0, "chargeback_account_1h": 0,
			},
		},
		{
			name: "a week after the previous order",
			at:   25*time.Hour + 7*24*time.Hour,
			o:    Order{ID: "o5", IP: ipA, Account: "44"},
			want: Counts{
				"ip_1h": 1, "ip_24h": 1, "ip_7d": 1,
				"ip_prefix_1h": 1, "email_1h": 0, "account_1h": 1, "card_1h": 0, "address_1h": 0, "address_7d": 0,
				"accounts_per_ip_1h": 1, "cards_per_account_1h": 0,
				"payment_failed_account_7d": 0, "chargeback_account_1h": 0,
			},
		},
	}
	for _, s := range steps {
		got := record(t, c, t0.Add(s.at), s.o)
		names := make([]string, 0, len(s.want))
		for n := range s.want {
			names = append(names, n)
		}
		if diff := cmp.Diff(s.want, pick(got, names...)); diff != "" {
			t.Errorf("%s: Record(%+v) counts (-want +got):\n%s", s.name, s.o, diff)
		}
		if len(got) != len(c.Names()) {
			t.Errorf("%s: Record returned %d counts, want all %d names", s.name, len(got), len(c.Names()))
		}
	}

	// Distinct accounts of ipA: 42 (last seen at 1h) and 44 (25h, 7d+25h).
	// At 7d+25h only 44 is within 7 d; the set was trimmed to it.
	ctx := context.Background()
	key := c.tag(ident.KindIP, ipA.String())
	if n := rdb.ZCard(ctx, key+":d").Val(); n != 1 {
		t.Errorf("ZCARD accounts of ipA = %d, want 1 after trimming to the longest window", n)
	}
	if n := rdb.ZCard(ctx, key+":z").Val(); n != 1 {
		t.Errorf("ZCARD orders of ipA = %d, want 1 after trimming to the longest window", n)
	}
	// Keys expire with the longest window.
	for _, k := range []string{key + ":z", key + ":d"} {
		ttl := rdb.PTTL(ctx, k).Val()
		if ttl <= 0 || ttl > 7*24*time.Hour {
			t.Errorf("PTTL %s = %v, want within (0, 168h]", k, ttl)
		}
	}
}

func TestRecordIPv6Prefix(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	record(t, c, t0, Order{ID: "a", IP: ipV6})
	got := record(t, c, t0.Add(time.Minute), Order{ID: "b", IP: ipV6b})
	want := Counts{"ip_1h": 1, "ip_prefix_1h": 2}
	if diff := cmp.Diff(want, pick(got, "ip_1h", "ip_prefix_1h")); diff != "" {
		t.Errorf("IPv6 counts (-want +got):\n%s", diff)
	}
	// An IPv4-mapped address counts as the IPv4 address.
	record(t, c, t0, Order{ID: "c", IP: ipA})
	got = record(t, c, t0.Add(time.Minute), Order{ID: "d", IP: netip.MustParseAddr("::ffff:198.51.100.7")})
	if diff := cmp.Diff(Counts{"ip_1h": 2, "ip_prefix_1h": 2}, pick(got, "ip_1h", "ip_prefix_1h")); diff != "" {
		t.Errorf("mapped IPv4 counts (-want +got):\n%s", diff)
	}
}

func TestRecordRetryCountsOnce(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	o := Order{ID: "INV-1", IP: ipA, Email: "ann@example.com", Account: "42", Card: "411111:1111", Address: "us|1|sf|x"}
	first := record(t, c, t0, o)
	// The storefront retries a minute later, twice.
	for i := 1; i <= 2; i++ {
		again := record(t, c, t0.Add(time.Duration(i)*time.Minute), o)
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("retry %d changed the counts (-first +retry):\n%s", i, diff)
		}
	}
	for _, n := range c.Names() {
		want := int64(1)
		if strings.HasPrefix(n, "payment_failed") || strings.HasPrefix(n, "refund") || strings.HasPrefix(n, "chargeback") {
			want = 0
		}
		if first[n] != want {
			t.Errorf("first Record %s = %d, want %d", n, first[n], want)
		}
	}
	// Another order from the same customer does count.
	next := record(t, c, t0.Add(3*time.Minute), Order{ID: "INV-2", IP: ipA, Email: "ann@example.com", Account: "42", Card: "411111:1111"})
	if diff := cmp.Diff(Counts{"ip_1h": 2, "email_1h": 2, "cards_per_account_1h": 1, "accounts_per_ip_1h": 1},
		pick(next, "ip_1h", "email_1h", "cards_per_account_1h", "accounts_per_ip_1h")); diff != "" {
		t.Errorf("second order (-want +got):\n%s", diff)
	}
}

func TestDistinctCounts(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	// Four orders from one IP by accounts 1, 2, 1, 3; account 1 uses cards
	// A, B, A.
	orders := []struct {
		at            time.Duration
		account, card string
		wantAccounts  Counts // accounts_per_ip
		wantCards     Counts // cards_per_account
	}{
		{0, "1", "411111:0001", Counts{"accounts_per_ip_1h": 1, "accounts_per_ip_24h": 1}, Counts{"cards_per_account_1h": 1}},
		{time.Minute, "2", "", Counts{"accounts_per_ip_1h": 2, "accounts_per_ip_24h": 2}, Counts{"cards_per_account_1h": 0}},
		{2 * time.Minute, "1", "411111:0002", Counts{"accounts_per_ip_1h": 2, "accounts_per_ip_24h": 2}, Counts{"cards_per_account_1h": 2}},
		{3 * time.Minute, "1", "411111:0001", Counts{"accounts_per_ip_1h": 2, "accounts_per_ip_24h": 2}, Counts{"cards_per_account_1h": 2}},
		// 62 minutes in: account 2 (seen at 1 min) left the 1 h window.
		{62 * time.Minute, "3", "", Counts{"accounts_per_ip_1h": 2, "accounts_per_ip_24h": 3}, Counts{"cards_per_account_1h": 0}},
	}
	for i, o := range orders {
		got := record(t, c, t0.Add(o.at), Order{ID: string(rune('a' + i)), IP: ipA, Account: o.account, Card: o.card})
		if diff := cmp.Diff(o.wantAccounts, pick(got, "accounts_per_ip_1h", "accounts_per_ip_24h")); diff != "" {
			t.Errorf("order %d accounts_per_ip (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(o.wantCards, pick(got, "cards_per_account_1h")); diff != "" {
			t.Errorf("order %d cards_per_account (-want +got):\n%s", i, diff)
		}
	}
}

func TestDistinctCapped(t *testing.T) {
	t.Parallel()
	c, rdb := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = 16 })
	var got Counts
	for i := range 40 {
		got = record(t, c, t0.Add(time.Duration(i)*time.Second), Order{ID: "o" + strconv.Itoa(i), IP: ipA, Account: "acct" + strconv.Itoa(i)})
	}
	// Distinct counts saturate at MaxEntries; the set keeps the 16 most
	// recently seen accounts.
	if got["accounts_per_ip_1h"] != 16 {
		t.Errorf("accounts_per_ip_1h = %d, want 16 (MaxEntries)", got["accounts_per_ip_1h"])
	}
	if n := rdb.ZCard(context.Background(), c.tag(ident.KindIP, ipA.String())+":d").Val(); n != 16 {
		t.Errorf("ZCARD distinct = %d, want 16", n)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	ctx := context.Background()
	names := []string{"payment_failed_account_1h", "payment_failed_account_24h", "refund_account_1h", "chargeback_account_7d"}

	ev := func(at time.Duration, kind EventKind, account, order string) Counts {
		t.Helper()
		got, err := c.RecordEvent(ctx, t0.Add(at), kind, account, order)
		if err != nil {
			t.Fatalf("RecordEvent(%s, %s, %s): %v", kind, account, order, err)
		}
		if len(got) != 3*len(c.Windows()) {
			t.Errorf("RecordEvent returned %d counts, want the %d event counts", len(got), 3*len(c.Windows()))
		}
		return pick(got, names...)
	}
	steps := []struct {
		got, want Counts
	}{
		{ev(0, EventPaymentFailed, "42", "o1"), Counts{names[0]: 1, names[1]: 1, names[2]: 0, names[3]: 0}},
		// Retried event: counted once.
		{ev(time.Second, EventPaymentFailed, "42", "o1"), Counts{names[0]: 1, names[1]: 1, names[2]: 0, names[3]: 0}},
		{ev(time.Minute, EventPaymentFailed, "42", "o2"), Counts{names[0]: 2, names[1]: 2, names[2]: 0, names[3]: 0}},
		{ev(2*time.Minute, EventRefund, "42", "o1"), Counts{names[0]: 2, names[1]: 2, names[2]: 1, names[3]: 0}},
		{ev(3*time.Minute, EventChargeback, "42", "o1"), Counts{names[0]: 2, names[1]: 2, names[2]: 1, names[3]: 1}},
		// Other accounts are separate.
		{ev(3*time.Minute, EventChargeback, "43", "o9"), Counts{names[0]: 0, names[1]: 0, names[2]: 0, names[3]: 1}},
	}
	for i, s := range steps {
		if diff := cmp.Diff(s.want, s.got); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}

	// Record reports the account's event counts at order time, read-only.
	for _, at := range []time.Duration{10 * time.Minute, 11 * time.Minute} {
		got := record(t, c, t0.Add(at), Order{ID: "o3", Account: "42"})
		want := Counts{names[0]: 2, names[1]: 2, names[2]: 1, names[3]: 1}
		if diff := cmp.Diff(want, pick(got, names...)); diff != "" {
			t.Errorf("Record at %v event counts (-want +got):\n%s", at, diff)
		}
	}
	// Two hours later the failures have left the 1 h window.
	got := record(t, c, t0.Add(2*time.Hour), Order{ID: "o4", Account: "42"})
	if diff := cmp.Diff(Counts{names[0]: 0, names[1]: 2, names[2]: 0, names[3]: 1}, pick(got, names...)); diff != "" {
		t.Errorf("Record 2 h later (-want +got):\n%s", diff)
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	c, _ := sharedCounter(t, nil)
	ctx := context.Background()
	if _, err := c.Record(ctx, t0, Order{IP: ipA}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Record without id = %v, want ErrInvalidInput", err)
	}
	if _, err := c.RecordEvent(ctx, t0, "fraud", "42", "o1"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("RecordEvent(unknown kind) = %v, want ErrInvalidInput", err)
	}
	if _, err := c.RecordEvent(ctx, t0, EventRefund, "", "o1"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("RecordEvent(no account) = %v, want ErrInvalidInput", err)
	}
	// An order with nothing to count needs no Redis and reports zeros.
	got, err := c.Record(ctx, t0, Order{ID: "empty"})
	if err != nil {
		t.Fatalf("Record(id only): %v", err)
	}
	for n, v := range got {
		if v != 0 {
			t.Errorf("Record(id only) %s = %d, want 0", n, v)
		}
	}
}

// TestPerTagMatchesSingleCall runs one history through both shapes of call
// (one script over all keys; one script per identifier, as on Cluster) and
// expects the same counts.
func TestPerTagMatchesSingleCall(t *testing.T) {
	t.Parallel()
	single, _ := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = 16 })
	perTag, _ := sharedCounter(t, func(cfg *Config) { cfg.MaxEntries = 16 })
	perTag.perTag = true
	for i := range 60 {
		o := Order{
			ID:      "o" + strconv.Itoa(i%50), // the last ten are retries
			IP:      netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 7)}),
			Email:   "e" + strconv.Itoa(i%5) + "@example.com",
			Account: strconv.Itoa(i % 3),
			Card:    "411111:000" + strconv.Itoa(i%4),
			Address: "us|" + strconv.Itoa(i%2),
		}
		if i%3 == 0 {
			o.OlderEmail = "e." + strconv.Itoa(i%5) + "@example.com"
		}
		now := t0.Add(time.Duration(i) * 7 * time.Minute)
		a, b := record(t, single, now, o), record(t, perTag, now, o)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("order %d: single call vs per tag (-single +perTag):\n%s", i, diff)
		}
	}
}

// TestRecordOlderEmail: counters keyed by an older form of an address (before
// provider email rules) still count, read-only, beside the new key, so a
// change of normalization does not reset an address's history.
func TestRecordOlderEmail(t *testing.T) {
	t.Parallel()
	c, rdb := sharedCounter(t, nil)
	// Before: keyed by the basic form.
	record(t, c, t0, Order{ID: "o1", Email: "john.doe@gmail.com"})
	record(t, c, t0.Add(time.Minute), Order{ID: "o2", Email: "john.doe@gmail.com"})
	// After: keyed by the mailbox form, the basic one read too.
	got := record(t, c, t0.Add(2*time.Minute), Order{ID: "o3", Email: "johndoe@gmail.com", OlderEmail: "john.doe@gmail.com"})
	if diff := cmp.Diff(Counts{"email_1h": 3, "email_7d": 3}, pick(got, "email_1h", "email_7d")); diff != "" {
		t.Errorf("email counts with the older form (-want +got):\n%s", diff)
	}
	// Nothing was written under the older key.
	older := c.tag(ident.KindEmail, "john.doe@gmail.com") + ":z"
	if n, err := rdb.ZCard(context.Background(), older).Result(); err != nil || n != 2 {
		t.Errorf("ZCARD(older key) = %d, %v, want 2 (read only)", n, err)
	}
	// The older form equal to the new one is not counted twice.
	got = record(t, c, t0.Add(3*time.Minute), Order{ID: "o4", Email: "ann@example.com", OlderEmail: "ann@example.com"})
	if got["email_1h"] != 1 {
		t.Errorf("email_1h = %d, want 1", got["email_1h"])
	}
}
