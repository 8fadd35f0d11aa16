package screening

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
)

// Hand-written fakes of the Screener's own interfaces.

type fakeLocator struct {
	info IPInfo
	err  error
}

func (f fakeLocator) LocateIP(context.Context, netip.Addr) (IPInfo, error) { return f.info, f.err }

type fakePolicy map[string]bool

func (f fakePolicy) IsBlockedCountry(code string) bool { return f[code] }

// euPolicy blocks a few EU countries, like geoblock's default.
var euPolicy = fakePolicy{"DE": true, "FR": true, "SE": true}

type fakeVelocity struct {
	mu     sync.Mutex
	orders []velocity.Order
	counts velocity.Counts
	err    error
	// wait, when set, is received from before answering: the test's
	// proof that minFraud runs in parallel.
	wait <-chan struct{}
}

func (f *fakeVelocity) Record(ctx context.Context, _ time.Time, o velocity.Order) (velocity.Counts, error) {
	if f.wait != nil {
		select {
		case <-f.wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders = append(f.orders, o)
	if f.err != nil {
		return nil, f.err
	}
	c := velocity.Counts{}
	for k, v := range f.counts {
		c[k] = v
	}
	return c, nil
}

func (f *fakeVelocity) recorded() []velocity.Order {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.orders)
}

type fakeBlocklist struct {
	mu      sync.Mutex
	queries []blocklist.Query
	hits    []blocklist.Hit
	err     error
}

func (f *fakeBlocklist) Check(_ context.Context, q blocklist.Query) ([]blocklist.Hit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.hits, f.err
}

type fakeMinFraud struct {
	mu   sync.Mutex
	reqs []minfraud.Request
	resp *minfraud.Response
	err  error
	// started is closed when Score is called; block makes Score wait for
	// its context to end.
	started chan struct{}
	block   bool
	ended   chan error
}

func (f *fakeMinFraud) Score(ctx context.Context, req minfraud.Request) (*minfraud.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.started != nil {
		close(f.started)
	}
	if f.block {
		<-ctx.Done()
		f.ended <- ctx.Err()
		return nil, fmt.Errorf("calling minfraud: %w: %w", minfraud.ErrUnavailable, ctx.Err())
	}
	return f.resp, f.err
}

type screenerFixture struct {
	locator   fakeLocator
	velocity  *fakeVelocity
	blocklist *fakeBlocklist
	minfraud  *fakeMinFraud
	reg       *prometheus.Registry
}

func newFixture() *screenerFixture {
	return &screenerFixture{
		locator:   fakeLocator{info: IPInfo{Country: "US", RegisteredCountry: "US", ASN: 64500, ASOrg: "Example Net"}},
		velocity:  &fakeVelocity{counts: velocity.Counts{"ip_1h": 1, "account_1h": 1, "account_7d": 1, "email_24h": 1}},
		blocklist: &fakeBlocklist{},
		minfraud:  &fakeMinFraud{resp: &minfraud.Response{ID: "5a3e0f8b-0000-4000-8000-000000000001", RiskScore: 0.5, IPAddress: minfraud.IPAddress{Risk: 0.1}}},
		reg:       prometheus.NewRegistry(),
	}
}

func testConfig() Config {
	// A generous Redis bound: the default 250 ms is meant for production,
	// and a loaded CI machine running -race builds can exceed it.
	c := Config{HashKey: "0123456789abcdef0123456789abcdef", Velocity: velocity.Config{Timeout: 2 * time.Second}}
	c.SetDefaults()
	return c
}

func (f *screenerFixture) screener(t testing.TB) *Screener {
	t.Helper()
	deps := Deps{Locator: f.locator, Policy: euPolicy, Velocity: f.velocity, Blocklist: f.blocklist}
	if f.minfraud != nil {
		deps.MinFraud = f.minfraud
	}
	s, err := New(testConfig(), deps, nil, f.reg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return s
}

var screenTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestScreenClean(t *testing.T) {
	t.Parallel()
	f := newFixture()
	s := f.screener(t)
	o := exampleOrderValue()
	o.Account.Email = "Ann+shop@Example.com"
	d, err := s.Screen(context.Background(), o, screenTime)
	if err != nil {
		t.Fatalf("Screen() = %v", err)
	}
	if d.Outcome != Accept || d.Score != 0 || len(d.Reasons) != 0 {
		t.Errorf("Screen() = %s %d %v, want accept 0 no reasons", d.Outcome, d.Score, d.Reasons)
	}
	if d.MinFraudID != f.minfraud.resp.ID {
		t.Errorf("MinFraudID = %q, want %q", d.MinFraudID, f.minfraud.resp.ID)
	}
	wantSig := Signals{
		IP: "198.51.100.7", IPLocated: true, IPCountry: "US", IPRegisteredCountry: "US", ASN: 64500, ASNOrg: "Example Net",
		BillingCountry: "US", EmailDomain: "example.com", EmailSyntaxOK: true,
		Velocity:        map[string]int64{"ip_1h": 1, "account_1h": 1, "account_7d": 1, "email_24h": 1},
		FirstOrder:      true,
		MinFraudEnabled: true, MinFraudAvailable: true, MinFraudRiskScore: 0.5, MinFraudIPRisk: 0.1,
		Amount: 12, Currency: "USD", ItemCategories: []string{"vps"}, SKUs: []string{"vps-1"}, ItemCount: 1,
		HasCard: true, HasAccountID: true,
	}
	if diff := cmp.Diff(wantSig, d.Signals); diff != "" {
		t.Errorf("signals mismatch (-want +got):\n%s", diff)
	}
	// Identifiers reach Redis normalized (velocity and blocklist hash them).
	wantVel := []velocity.Order{{ID: "INV-1001", IP: netip.MustParseAddr("198.51.100.7"), Email: "ann@example.com",
		Account: "42", Card: "411111:1111", Address: identifiers(&o, ident.EmailProvider).address}}
	if diff := cmp.Diff(wantVel, f.velocity.recorded(), addrCmp); diff != "" {
		t.Errorf("velocity orders mismatch (-want +got):\n%s", diff)
	}
	wantQ := []blocklist.Query{{IP: netip.MustParseAddr("198.51.100.7"), Email: "ann@example.com", EmailDomain: "example.com",
		Account: "42", Card: "411111:1111"}}
	if diff := cmp.Diff(wantQ, f.blocklist.queries, addrCmp); diff != "" {
		t.Errorf("blocklist queries mismatch (-want +got):\n%s", diff)
	}
	if len(f.minfraud.reqs) != 1 || f.minfraud.reqs[0].Event.TransactionID != "INV-1001" {
		t.Errorf("minfraud requests = %+v, want one for INV-1001", f.minfraud.reqs)
	}
	if got := counterValue(t, s.m.decisions.WithLabelValues("accept")); got != 1 {
		t.Errorf("accept decisions metric = %v, want 1", got)
	}
}

func TestScreenOutcomes(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("calling minfraud score: %w: timeout", minfraud.ErrUnavailable)
	tests := []struct {
		name    string
		setup   func(f *screenerFixture, o *Order)
		outcome Outcome
		reasons []string
	}{
		{"EU billing country", func(f *screenerFixture, o *Order) { o.Billing.Country = "DE" }, Reject,
			[]string{"billing_country_blocked", "country_mismatch"}},
		{"IP in a blocked country", func(f *screenerFixture, o *Order) {
			f.locator.info.Country, f.locator.info.RegisteredCountry = "FR", "US"
		}, Reject, []string{"ip_country_blocked", "country_mismatch"}},
		// geoblock judges the country, not the registered country.
		{"IP registered in a blocked country", func(f *screenerFixture, o *Order) {
			f.locator.info.Country, f.locator.info.RegisteredCountry = "US", "FR"
		}, Accept, nil},
		{"blocklisted", func(f *screenerFixture, o *Order) {
			f.blocklist.hits = []blocklist.Hit{{Kind: blocklist.KindEmail, ID: "e1"}, {Kind: blocklist.KindEmail, ID: "e2"}, {Kind: blocklist.KindCard, ID: "c"}}
		}, Reject, []string{"blocklisted"}},
		{"minFraud down", func(f *screenerFixture, o *Order) { f.minfraud.resp, f.minfraud.err = nil, unavailable }, Review,
			[]string{"minfraud_unavailable"}},
		{"minFraud refused the request", func(f *screenerFixture, o *Order) {
			f.minfraud.resp, f.minfraud.err = nil, fmt.Errorf("x: %w", minfraud.ErrInvalidRequest)
		}, Review, []string{"minfraud_unavailable"}},
		{"minFraud not configured", func(f *screenerFixture, o *Order) { f.minfraud = nil }, Accept, nil},
		{"minFraud very risky", func(f *screenerFixture, o *Order) { f.minfraud.resp.RiskScore = 92 }, Reject,
			[]string{"minfraud_risk_very_high"}},
		{"GeoIP failed", func(f *screenerFixture, o *Order) { f.locator.err = errors.New("mmdb closed") }, Review,
			[]string{"ip_location_failed"}},
		{"Tor and disposable email", func(f *screenerFixture, o *Order) {
			f.locator.info.Tor, f.locator.info.Anonymous = true, true
			o.Account.Email = "x@mailinator.com"
		}, Reject, []string{"anonymous_ip_tor", "email_disposable"}},
		{"velocity burst", func(f *screenerFixture, o *Order) {
			f.velocity.counts = velocity.Counts{"ip_1h": 5, "accounts_per_ip_24h": 4}
		}, Review, []string{"velocity_ip", "velocity_accounts_per_ip"}},
		{"chargeback before", func(f *screenerFixture, o *Order) { f.velocity.counts = velocity.Counts{"chargeback_account_7d": 1} }, Reject,
			[]string{"chargeback_history"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			o := exampleOrderValue()
			tc.setup(f, &o)
			d, err := f.screener(t).Screen(context.Background(), o, screenTime)
			if err != nil {
				t.Fatalf("Screen() = %v", err)
			}
			var codes []string
			for _, r := range d.Reasons {
				codes = append(codes, r.Code)
			}
			if d.Outcome != tc.outcome || !slices.Equal(codes, tc.reasons) {
				t.Errorf("Screen() = %s %v, want %s %v", d.Outcome, codes, tc.outcome, tc.reasons)
			}
		})
	}
}

func TestScreenBlocklistDetail(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.blocklist.hits = []blocklist.Hit{{Kind: blocklist.KindEmail}, {Kind: blocklist.KindEmail}, {Kind: blocklist.KindCard}}
	d, err := f.screener(t).Screen(context.Background(), exampleOrderValue(), screenTime)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reason{{Code: "blocklisted", Detail: "On the blocklist: email, card."}}
	if diff := cmp.Diff(want, d.Reasons); diff != "" {
		t.Errorf("reasons mismatch (-want +got):\n%s", diff)
	}
}

func TestScreenMinFraudUnavailableMetric(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.minfraud.resp, f.minfraud.err = nil, fmt.Errorf("x: %w", minfraud.ErrUnavailable)
	s := f.screener(t)
	if _, err := s.Screen(context.Background(), exampleOrderValue(), screenTime); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, s.m.minfraudUnavailable); got != 1 {
		t.Errorf("minfraud unavailable metric = %v, want 1", got)
	}
	if got := counterValue(t, s.m.ruleHits.WithLabelValues("minfraud_unavailable")); got != 1 {
		t.Errorf("rule hits metric = %v, want 1", got)
	}
}

func TestScreenRedisDown(t *testing.T) {
	t.Parallel()
	down := fmt.Errorf("dial tcp: %w", velocity.ErrUnavailable)
	tests := []struct {
		name  string
		setup func(f *screenerFixture)
	}{
		{"velocity", func(f *screenerFixture) { f.velocity.err = down }},
		{"blocklist", func(f *screenerFixture) { f.blocklist.err = errors.New("connection refused") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			tc.setup(f)
			s := f.screener(t)
			_, err := s.Screen(context.Background(), exampleOrderValue(), screenTime)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("Screen() = %v, want ErrUnavailable", err)
			}
			if got := counterValue(t, s.m.errors.WithLabelValues("redis")); got != 1 {
				t.Errorf("redis errors metric = %v, want 1", got)
			}
		})
	}
}

// TestScreenMinFraudInParallel: velocity answers only once minFraud has
// been called, so a sequential implementation would never finish.
func TestScreenMinFraudInParallel(t *testing.T) {
	t.Parallel()
	f := newFixture()
	started := make(chan struct{})
	f.minfraud.started = started
	f.velocity.wait = started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.screener(t).Screen(ctx, exampleOrderValue(), screenTime); err != nil {
		t.Fatalf("Screen() = %v (minFraud not called in parallel with Redis?)", err)
	}
}

// TestScreenRedisDownStopsMinFraud: when Redis fails there is no decision
// to wait for, so the minFraud call is cancelled.
func TestScreenRedisDownStopsMinFraud(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.minfraud.block = true
	f.minfraud.started = make(chan struct{})
	f.minfraud.ended = make(chan error, 1)
	f.velocity.err = fmt.Errorf("x: %w", velocity.ErrUnavailable)
	f.velocity.wait = f.minfraud.started
	_, err := f.screener(t).Screen(context.Background(), exampleOrderValue(), screenTime)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Screen() = %v, want ErrUnavailable", err)
	}
	select {
	case err := <-f.minfraud.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("minFraud call ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("minFraud call still running after Screen returned")
	}
}

func TestScreenFirstOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		counts velocity.Counts
		noAcct bool
		want   bool
	}{
		{"first", velocity.Counts{"account_1h": 1, "account_7d": 1}, false, true},
		{"second within a week", velocity.Counts{"account_1h": 1, "account_7d": 2}, false, false},
		{"accounts_per_ip is not the account", velocity.Counts{"account_7d": 1, "accounts_per_ip_24h": 5}, false, true},
		{"no account id: email counts", velocity.Counts{"email_7d": 3, "account_7d": 0}, true, false},
		{"no counters: assume first", velocity.Counts{}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			f.velocity.counts = tc.counts
			o := exampleOrderValue()
			if tc.noAcct {
				o.Account.ID = ""
			}
			d, err := f.screener(t).Screen(context.Background(), o, screenTime)
			if err != nil {
				t.Fatal(err)
			}
			if d.Signals.FirstOrder != tc.want {
				t.Errorf("first_order = %v, want %v", d.Signals.FirstOrder, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	f := newFixture()
	full := Deps{Locator: f.locator, Policy: euPolicy, Velocity: f.velocity, Blocklist: f.blocklist}
	if _, err := New(testConfig(), Deps{}, nil, nil); err == nil {
		t.Error("New(no deps) = nil error")
	}
	cfg := testConfig()
	cfg.RulesFile = "testdata/does-not-exist.yaml"
	if _, err := New(cfg, full, nil, nil); err == nil {
		t.Error("New(missing rules file) = nil error")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(testConfig(), full, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(), full, nil, reg); err == nil {
		t.Error("New(same registry twice) = nil error")
	}
}

// Benchmark fakes keep nothing, so the loop measures the Screener alone.
type benchVelocity velocity.Counts

func (f benchVelocity) Record(context.Context, time.Time, velocity.Order) (velocity.Counts, error) {
	c := make(velocity.Counts, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c, nil
}

type benchBlocklist struct{}

func (benchBlocklist) Check(context.Context, blocklist.Query) ([]blocklist.Hit, error) {
	return nil, nil
}

type benchMinFraud struct{ resp *minfraud.Response }

func (f benchMinFraud) Score(context.Context, minfraud.Request) (*minfraud.Response, error) {
	return f.resp, nil
}

// BenchmarkScreen measures the in-process part of screening: mapping,
// email lists, signals, the default rules, metrics, the minFraud goroutine
// (with instant fakes for Redis, minFraud and GeoIP).
func BenchmarkScreen(b *testing.B) {
	counts := benchVelocity{}
	for _, n := range []string{"ip", "ip_prefix", "email", "account", "card", "address", "accounts_per_ip", "cards_per_account",
		"payment_failed_account", "refund_account", "chargeback_account"} {
		for _, w := range []string{"1h", "24h", "7d"} {
			counts[n+"_"+w] = 1
		}
	}
	f := newFixture()
	s, err := New(testConfig(), Deps{
		Locator: f.locator, Policy: euPolicy, Velocity: counts, Blocklist: benchBlocklist{},
		MinFraud: benchMinFraud{f.minfraud.resp},
	}, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	o := exampleOrderValue()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Screen(ctx, o, screenTime); err != nil {
			b.Fatal(err)
		}
	}
}
