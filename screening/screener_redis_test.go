package screening

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/velocity"
)

type realRedis struct {
	rdb       *redis.Client
	counter   *velocity.Counter
	blocklist *blocklist.List
	trips     *testenv.CountingHook
}

func newRealRedis(t *testing.T) realRedis {
	t.Helper()
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	trips := &testenv.CountingHook{}
	rdb.AddHook(trips)
	h, err := ident.NewHasher([]byte(testConfig().HashKey))
	if err != nil {
		t.Fatal(err)
	}
	vcfg := velocity.Config{KeyPrefix: prefix + "v:", Timeout: 2 * time.Second}
	vcfg.SetDefaults()
	counter, err := velocity.New(vcfg, rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	return realRedis{rdb: rdb, counter: counter, blocklist: blocklist.New(rdb, h, prefix+"bl:", ident.EmailProvider), trips: trips}
}

func (r realRedis) screener(t *testing.T, fused bool) *Screener {
	t.Helper()
	f := newFixture()
	deps := Deps{Locator: f.locator, Policy: euPolicy, Velocity: r.counter, Blocklist: r.blocklist, MinFraud: f.minfraud}
	if fused {
		deps.Redis = r.rdb
	}
	s, err := New(testConfig(), deps, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return s
}

// TestScreenRealRedis screens orders with the real velocity counters and
// blocklist: retries count once, bursts fire the velocity rules, a
// blocklisted email rejects, and each order is one Redis round trip.
func TestScreenRealRedis(t *testing.T) {
	t.Parallel()
	for _, fused := range []bool{true, false} {
		t.Run(fmt.Sprintf("fused=%v", fused), func(t *testing.T) {
			t.Parallel()
			r := newRealRedis(t)
			s := r.screener(t, fused)
			ctx := context.Background()
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			screen := func(id, email string) Decision {
				t.Helper()
				o := exampleOrderValue()
				o.OrderID, o.Account.Email, o.Account.ID = id, email, "acct-"+email
				d, err := s.Screen(ctx, o, now)
				if err != nil {
					t.Fatalf("Screen(%s) = %v", id, err)
				}
				return d
			}
			d := screen("A-1", "a@example.com")
			if d.Outcome != Accept || d.Signals.Velocity["ip_1h"] != 1 || !d.Signals.FirstOrder {
				t.Fatalf("first order = %s ip_1h=%d first=%v", d.Outcome, d.Signals.Velocity["ip_1h"], d.Signals.FirstOrder)
			}
			// A retry of the same order counts once.
			if d := screen("A-1", "a@example.com"); d.Signals.Velocity["ip_1h"] != 1 {
				t.Errorf("retried order: ip_1h = %d, want 1", d.Signals.Velocity["ip_1h"])
			}
			screen("A-2", "b@example.com")
			screen("A-3", "c@example.com")
			before := r.trips.RoundTrips()
			d = screen("A-4", "d@example.com")
			trips := r.trips.RoundTrips() - before
			if !slices.Contains(d.Fired, "velocity_ip_1h") || !slices.Contains(d.Fired, "velocity_accounts_per_ip_24h") {
				t.Errorf("4th order from one IP fired %v, want velocity_ip_1h and velocity_accounts_per_ip_24h", d.Fired)
			}
			var detail string
			for _, rs := range d.Reasons {
				if rs.Code == "velocity_ip" {
					detail = rs.Detail
				}
			}
			if detail != "4 orders from this IP in the last hour." {
				t.Errorf("velocity_ip detail = %q", detail)
			}
			wantTrips := int64(2)
			if fused {
				wantTrips = 1
			}
			if trips != wantTrips {
				t.Errorf("Screen() made %d Redis round trips, want %d", trips, wantTrips)
			}

			if _, err := r.blocklist.Add(ctx, blocklist.Entry{Kind: blocklist.KindEmail, Value: "Bad+tag@Example.com", Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			d = screen("A-5", "bad@example.com")
			if d.Outcome != Reject || d.Reasons[0] != (Reason{Code: "blocklisted", Detail: "On the blocklist: email."}) {
				t.Errorf("blocklisted email: %s %v", d.Outcome, d.Reasons)
			}
		})
	}
}

func TestScreenRealRedisDown(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers: the round trip must end
	// at screening.velocity.timeout with ErrUnavailable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true, Protocol: 2})
	t.Cleanup(func() { rdb.Close() })
	h, err := ident.NewHasher([]byte(testConfig().HashKey))
	if err != nil {
		t.Fatal(err)
	}
	vcfg := velocity.Config{}
	vcfg.SetDefaults()
	counter, err := velocity.New(vcfg, rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture()
	s, err := New(testConfig(), Deps{Locator: f.locator, Policy: euPolicy, Velocity: counter,
		Blocklist: blocklist.New(rdb, h, "", ident.EmailProvider), MinFraud: f.minfraud, Redis: rdb}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Screen(context.Background(), exampleOrderValue(), screenTime)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Screen() = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Screen() took %v with a silent Redis, want about the velocity timeout", d)
	}
}

func TestVelocityNamesChecked(t *testing.T) {
	t.Parallel()
	r := newRealRedis(t)
	// The default rules read only counters the default windows produce.
	if err := defaultRules(t).CheckVelocityNames(r.counter.Names()); err != nil {
		t.Errorf("default rules: %v", err)
	}
	// Without a 7 d window, the rules reading *_7d stop start-up.
	h, _ := ident.NewHasher([]byte(testConfig().HashKey))
	vcfg := velocity.Config{Windows: []time.Duration{time.Hour, 24 * time.Hour}}
	vcfg.SetDefaults()
	short, err := velocity.New(vcfg, r.rdb, h)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture()
	_, err = New(testConfig(), Deps{Locator: f.locator, Policy: euPolicy, Velocity: short, Blocklist: r.blocklist}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `rule "chargeback_history": velocity.chargeback_account_7d`) {
		t.Errorf("New(no 7d window) = %v, want an error naming chargeback_history", err)
	}
}

// TestScreenFoldsMailboxSpellings (issue 7, finding 9): through the real
// counters and blocklist, the spellings one Gmail mailbox has count as one
// address and hit its blocklist entry; a subdomain of a blocklisted email
// domain and an 8-digit BIN of a blocklisted 6-digit card are blocked.
func TestScreenFoldsMailboxSpellings(t *testing.T) {
	t.Parallel()
	r := newRealRedis(t)
	s := r.screener(t, true) // as cmd/gateway wires it
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	screen := func(id, email, bin string) Decision {
		t.Helper()
		o := exampleOrderValue()
		o.OrderID, o.Account.Email, o.Account.ID, o.Payment.CardBIN = id, email, "acct-"+id, bin
		o.IP = "198.51.100." + strconv.Itoa(len(id)+int(id[len(id)-1]))
		d, err := s.Screen(ctx, o, now)
		if err != nil {
			t.Fatalf("Screen(%s) = %v", id, err)
		}
		return d
	}
	screen("G-1", "john.doe@gmail.com", "411111")
	screen("G-2", "JohnDoe+vps@googlemail.com", "411111")
	d := screen("G-3", "j.o.h.n.d.o.e@gmail.com", "411111")
	if got := d.Signals.Velocity["email_24h"]; got != 3 {
		t.Errorf("email_24h after three spellings of one Gmail mailbox = %d, want 3", got)
	}
	for _, e := range []blocklist.Entry{
		{Kind: blocklist.KindEmail, Value: "john.doe@gmail.com", Reason: "test"},
		{Kind: blocklist.KindEmailDomain, Value: "evil.example", Reason: "test"},
		{Kind: blocklist.KindCard, Value: "555555:4444", Reason: "test"},
	} {
		if _, err := r.blocklist.Add(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id, email, bin string
		want           []string
	}{
		{"B-1", "johndoe@googlemail.com", "411111", []string{"email"}},
		{"B-2", "x@mail.evil.example", "411111", []string{"email_domain"}},
		{"B-3", "x@notevil.example", "411111", nil},
	}
	for _, tt := range tests {
		d := screen(tt.id, tt.email, tt.bin)
		if diff := cmp.Diff(tt.want, d.Signals.BlocklistHits); diff != "" {
			t.Errorf("%s: blocklist hits (-want +got):\n%s", tt.email, diff)
		}
	}
	o := exampleOrderValue()
	o.OrderID, o.Payment.CardBIN, o.Payment.CardLast4 = "C-1", "55555512", "4444"
	d, err := s.Screen(ctx, o, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"card"}, d.Signals.BlocklistHits); diff != "" {
		t.Errorf("8-digit BIN of a blocklisted card: hits (-want +got):\n%s", diff)
	}
}
