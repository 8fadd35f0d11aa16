package blocklist

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/ident"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testHasher(t testing.TB) *ident.Hasher {
	t.Helper()
	h, err := ident.NewHasher([]byte("blocklist test key of 32 bytes.."))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newClient(t testing.TB, url string, hooks ...redis.Hook) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sharedList returns a List on the shared test Redis under a prefix of the
// test's own, with its client.
func sharedList(t testing.TB, hooks ...redis.Hook) (*List, *redis.Client, string) {
	t.Helper()
	rdb := newClient(t, testenv.RedisURL(t), hooks...)
	prefix := testenv.KeyPrefix(t)
	return New(rdb, testHasher(t), prefix, ident.EmailProvider), rdb, prefix
}

func add(t testing.TB, l *List, kind Kind, value, reason string) Entry {
	t.Helper()
	e, err := l.Add(context.Background(), Entry{Kind: kind, Value: value, Reason: reason, AddedBy: "officer-1", AddedAt: t0})
	if err != nil {
		t.Fatalf("Add(%s, %q): %v", kind, value, err)
	}
	return e
}

func check(t testing.TB, l *List, q Query) []Hit {
	t.Helper()
	hits, err := l.Check(context.Background(), q)
	if err != nil {
		t.Fatalf("Check(%+v): %v", q, err)
	}
	return hits
}

// kinds returns "kind:reason" of each hit, for compact comparisons.
func kinds(hits []Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, string(h.Kind)+":"+h.Reason)
	}
	return out
}

func TestAddListRemove(t *testing.T) {
	t.Parallel()
	l, _, _ := sharedList(t)
	ctx := context.Background()

	ip := add(t, l, KindIP, "198.51.100.7", "fraud ring")
	want := Entry{Kind: KindIP, Value: "198.51.100.x", Reason: "fraud ring", AddedBy: "officer-1", AddedAt: t0, ID: l.h.Hash(ident.KindIP, "198.51.100.7")}
	if diff := cmp.Diff(want, ip); diff != "" {
		t.Errorf("Add(ip) (-want +got):\n%s", diff)
	}
	later := func(e Entry, d time.Duration) Entry { e.AddedAt = t0.Add(d); return e }
	email, err := l.Add(ctx, later(Entry{Kind: KindEmail, Value: "Ann+x@Example.com", Reason: "chargeback", AddedBy: "system"}, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	card, err := l.Add(ctx, later(Entry{Kind: KindCard, Value: "411111:1111", Reason: "chargeback", AddedBy: "system"}, 2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cidr, err := l.Add(ctx, later(Entry{Kind: KindCIDR, Value: "203.0.113.9/24", Reason: "hosting", AddedBy: "officer-2"}, 3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	all, err := l.List(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{cidr, card, email, ip}, all); diff != "" {
		t.Errorf("List(all), newest first (-want +got):\n%s", diff)
	}
	if got := []string{email.Value, card.Value, cidr.Value}; !cmp.Equal(got, []string{"a***@example.com", "4*****:1111", "203.0.113.0/24"}) {
		t.Errorf("masked values = %q", got)
	}
	cards, err := l.List(ctx, KindCard, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{card}, cards); diff != "" {
		t.Errorf("List(card) (-want +got):\n%s", diff)
	}
	two, err := l.List(ctx, "", 2)
	if err != nil || len(two) != 2 {
		t.Errorf("List(all, 2) = %d entries, %v, want 2", len(two), err)
	}
	if _, err := l.List(ctx, "phone", 1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("List(phone) = %v, want ErrInvalidInput", err)
	}

	// Adding again updates the entry in place: same ID, one entry.
	again, err := l.Add(ctx, later(Entry{Kind: KindEmail, Value: "ann@example.com", Reason: "confirmed fraud", AddedBy: "officer-3"}, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != email.ID {
		t.Errorf("re-added email ID = %s, want %s (same identifier)", again.ID, email.ID)
	}
	emails, _ := l.List(ctx, KindEmail, 10)
	if len(emails) != 1 || emails[0].Reason != "confirmed fraud" {
		t.Errorf("List(email) after re-adding = %+v, want one entry with the new reason", emails)
	}

	// Remove by kind and value (any spelling), and by ID.
	if err := l.Remove(ctx, KindEmail, "ANN@example.com"); err != nil {
		t.Errorf("Remove(email): %v", err)
	}
	if err := l.Remove(ctx, KindEmail, "ann@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(email) twice = %v, want ErrNotFound", err)
	}
	if err := l.RemoveID(ctx, cidr.ID); err != nil {
		t.Errorf("RemoveID(cidr): %v", err)
	}
	if err := l.RemoveID(ctx, "no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveID(bad id) = %v, want ErrNotFound", err)
	}
	if err := l.Remove(ctx, KindCard, "4111"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Remove(bad card) = %v, want ErrInvalidInput", err)
	}
	all, _ = l.List(ctx, "", 0)
	if diff := cmp.Diff([]Entry{card, ip}, all); diff != "" {
		t.Errorf("List after removals (-want +got):\n%s", diff)
	}
	if left, _ := l.List(ctx, KindCIDR, 0); len(left) != 0 {
		t.Errorf("List(cidr) after removal = %+v, want none", left)
	}
}

func TestAddValidation(t *testing.T) {
	t.Parallel()
	l, _, _ := sharedList(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		e     Entry
		field string
	}{
		{"no reason", Entry{Kind: KindIP, Value: "198.51.100.7"}, "reason"},
		{"long reason", Entry{Kind: KindIP, Value: "198.51.100.7", Reason: strings.Repeat("r", 501)}, "reason"},
		{"control in reason", Entry{Kind: KindIP, Value: "198.51.100.7", Reason: "a\x1bb"}, "reason"},
		{"long author", Entry{Kind: KindIP, Value: "198.51.100.7", Reason: "r", AddedBy: strings.Repeat("a", 129)}, "added_by"},
		{"bad kind", Entry{Kind: "phone", Value: "1", Reason: "r"}, "kind"},
		{"bad value", Entry{Kind: KindCIDR, Value: "nope", Reason: "r"}, "value"},
	}
	for _, tt := range tests {
		_, err := l.Add(ctx, tt.e)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: Add = %v, want a FieldError on %q", tt.name, err, tt.field)
		}
	}
	if all, _ := l.List(ctx, "", 0); len(all) != 0 {
		t.Errorf("invalid entries were stored: %+v", all)
	}
}

// TestNothingRawInRedis adds one entry of each hashed kind and reads back
// every key and value under the list's prefix: none holds the identifiers.
func TestNothingRawInRedis(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := sharedList(t)
	ctx := context.Background()
	raw := map[Kind]string{
		KindIP: "198.51.100.77", KindEmail: "secret.person@example.com",
		KindAccount: "account-9876543", KindCard: "492181:4242",
	}
	for k, v := range raw {
		add(t, l, k, v, "test")
	}
	var dump strings.Builder
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch rdb.Type(ctx, k).Val() {
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "zset":
			dump.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		}
	}
	for k, v := range raw {
		for _, part := range []string{v, "secret.person", "9876543", "4921814242", "198.51.100.77"} {
			if strings.Contains(dump.String(), part) {
				t.Errorf("Redis holds %q of the %s entry:\n%s", part, k, dump.String())
			}
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	l, _, _ := sharedList(t)
	add(t, l, KindIP, "198.51.100.7", "ip")
	add(t, l, KindEmail, "ann@example.com", "email")
	add(t, l, KindEmailDomain, "mailinator.com", "domain")
	add(t, l, KindAccount, "42", "account")
	add(t, l, KindCard, "411111:1111", "card")
	add(t, l, KindCIDR, "203.0.113.0/24", "net24")
	add(t, l, KindCIDR, "203.0.0.0/16", "net16")
	add(t, l, KindCIDR, "2001:db8::/32", "net6")

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"nothing", Query{}, []string{}},
		{"clean order", Query{IP: netip.MustParseAddr("192.0.2.1"), Email: "bob@example.org", Account: "7", Card: "411111:2222"}, []string{}},
		{"every exact kind", Query{IP: netip.MustParseAddr("198.51.100.7"), Email: "ann@example.com", Account: "42", Card: "411111:1111"},
			[]string{"ip:ip", "email:email", "account:account", "card:card"}},
		{"email spelled differently", Query{Email: " Ann+vps@EXAMPLE.com"}, []string{"email:email"}},
		{"domain from email", Query{Email: "x@Mailinator.com"}, []string{"email_domain:domain"}},
		{"explicit domain", Query{EmailDomain: "@mailinator.com"}, []string{"email_domain:domain"}},
		{"mapped ip", Query{IP: netip.MustParseAddr("::ffff:198.51.100.7")}, []string{"ip:ip"}},
		{"nested ranges, most specific first", Query{IP: netip.MustParseAddr("203.0.113.200")}, []string{"cidr:net24", "cidr:net16"}},
		{"outer range", Query{IP: netip.MustParseAddr("203.0.7.1")}, []string{"cidr:net16"}},
		{"mapped ip in range", Query{IP: netip.MustParseAddr("::ffff:203.0.113.1")}, []string{"cidr:net24", "cidr:net16"}},
		{"ipv6 range", Query{IP: netip.MustParseAddr("2001:db8:ffff::1")}, []string{"cidr:net6"}},
		{"ipv6 outside", Query{IP: netip.MustParseAddr("2001:db9::1")}, []string{}},
		{"invalid identifiers are not checked", Query{Email: "not an email", Card: "4111"}, []string{}},
		{"account trimmed", Query{Account: " 42 "}, []string{"account:account"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, kinds(check(t, l, tt.q))); diff != "" {
			t.Errorf("%s: Check(%+v) (-want +got):\n%s", tt.name, tt.q, diff)
		}
	}
	hits := check(t, l, Query{Email: "ann@example.com"})
	if len(hits) != 1 || hits[0].Value != "a***@example.com" || hits[0].ID != l.h.Hash(ident.KindEmail, "ann@example.com") {
		t.Errorf("email hit = %+v, want the masked value and the entry's ID", hits)
	}
}

// TestRangesFollowOtherProcesses: two Lists on the same keys stand for two
// gateway processes; a range added or removed through one is seen by the
// other's next Check.
func TestRangesFollowOtherProcesses(t *testing.T) {
	t.Parallel()
	a, rdb, prefix := sharedList(t)
	hook := &testenv.CountingHook{}
	rdb.AddHook(hook)
	b := New(newClient(t, testenv.RedisURL(t)), testHasher(t), prefix, ident.EmailProvider)
	ip := netip.MustParseAddr("203.0.113.5")

	if hits := check(t, a, Query{IP: ip}); len(hits) != 0 {
		t.Fatalf("Check before any range = %+v", hits)
	}
	e := add(t, b, KindCIDR, "203.0.113.0/24", "added elsewhere")
	if diff := cmp.Diff([]string{"cidr:added elsewhere"}, kinds(check(t, a, Query{IP: ip}))); diff != "" {
		t.Errorf("after the other process added a range (-want +got):\n%s", diff)
	}
	// Unchanged ranges: one round trip, no reload.
	hook.Reset()
	check(t, a, Query{IP: ip, Email: "ann@example.com"})
	if got := hook.Pipelines.Load() + hook.Cmds.Load(); got != 1 {
		t.Errorf("Check with unchanged ranges sent %d pipelines/commands, want 1", got)
	}
	if err := b.RemoveID(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	if hits := check(t, a, Query{IP: ip}); len(hits) != 0 {
		t.Errorf("after the other process removed the range: %+v, want none", hits)
	}
}

// TestRangesAfterDataLoss: when Redis loses the ranges and their version
// (a restart without persistence, a failover to a replica that lagged), a
// range added afterwards must still reach a process that loaded the old
// ones, although a counter would have restarted at a value it already saw.
func TestRangesAfterDataLoss(t *testing.T) {
	t.Parallel()
	a, rdb, prefix := sharedList(t)
	b := New(newClient(t, testenv.RedisURL(t)), testHasher(t), prefix, ident.EmailProvider)
	ctx := context.Background()
	add(t, b, KindCIDR, "198.51.100.0/24", "before the loss")
	if got := kinds(check(t, a, Query{IP: netip.MustParseAddr("198.51.100.1")})); len(got) != 1 {
		t.Fatalf("Check before the loss = %v, want one hit", got)
	}
	if err := rdb.Del(ctx, prefix+"{bl}:ver", prefix+"{bl}:cidr").Err(); err != nil {
		t.Fatal(err)
	}
	add(t, b, KindCIDR, "203.0.113.0/24", "after the loss")
	if diff := cmp.Diff([]string{"cidr:after the loss"}, kinds(check(t, a, Query{IP: netip.MustParseAddr("203.0.113.1")}))); diff != "" {
		t.Errorf("range added after the loss (-want +got):\n%s", diff)
	}
	if hits := check(t, a, Query{IP: netip.MustParseAddr("198.51.100.1")}); len(hits) != 0 {
		t.Errorf("range lost with the data still matches: %+v", hits)
	}
}

// TestCheckOneRoundTrip: Check with every kind of identifier is one
// pipeline, on a server of the test's own whose INFO commandstats show only
// HMGETs and one GET.
func TestCheckOneRoundTrip(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	hook := &testenv.CountingHook{}
	l := New(newClient(t, srv.URL(), hook), testHasher(t), "", ident.EmailProvider)
	stats := newClient(t, srv.URL())
	add(t, l, KindCIDR, "203.0.113.0/24", "net")
	q := Query{IP: netip.MustParseAddr("203.0.113.5"), Email: "ann@example.com", Account: "42", Card: "411111:1111"}
	check(t, l, q) // loads the ranges
	hook.Reset()
	before := stats.Info(context.Background(), "commandstats").Val()
	const n = 20
	for range n {
		check(t, l, q)
	}
	if got, cmds := hook.Pipelines.Load(), hook.Cmds.Load(); got != n || cmds != 0 {
		t.Errorf("%d Checks sent %d pipelines and %d single commands, want %d and 0", n, got, cmds, n)
	}
	after := stats.Info(context.Background(), "commandstats").Val()
	// ip, email, email_domain, account, card: 5 HMGETs and the version GET.
	if d := calls(after, "hmget") - calls(before, "hmget"); d != 5*n {
		t.Errorf("HMGET calls = %d, want %d", d, 5*n)
	}
	if d := calls(after, "get") - calls(before, "get"); d != n {
		t.Errorf("GET calls = %d, want %d", d, n)
	}
	if d := calls(after, "hgetall") - calls(before, "hgetall"); d != 0 {
		t.Errorf("HGETALL calls = %d, want 0 (no reload of unchanged ranges)", d)
	}
}

func calls(info, cmd string) int64 {
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n := int64(0)
		for _, c := range rest {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		return n
	}
	return 0
}

func TestUnavailable(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	l := New(newClient(t, srv.URL()), testHasher(t), "", ident.EmailProvider)
	add(t, l, KindIP, "198.51.100.7", "x")
	srv.Stop()

	ops := map[string]func(context.Context) error{
		"Add": func(ctx context.Context) error {
			_, err := l.Add(ctx, Entry{Kind: KindIP, Value: "198.51.100.8", Reason: "x"})
			return err
		},
		"List": func(ctx context.Context) error { _, err := l.List(ctx, "", 0); return err },
		"Check": func(ctx context.Context) error {
			_, err := l.Check(ctx, Query{IP: netip.MustParseAddr("198.51.100.7")})
			return err
		},
		"Remove": func(ctx context.Context) error { return l.Remove(ctx, KindIP, "198.51.100.7") },
	}
	// The caller's deadline bounds go-redis's own dial retries.
	const deadline = 300 * time.Millisecond
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with Redis stopped = %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 3*deadline {
			t.Errorf("%s with Redis stopped took %v, want about the %v deadline", name, d, deadline)
		}
	}
}
