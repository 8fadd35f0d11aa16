package screening

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/testenv"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
)

// Fakes of the Orders service's own interfaces; Redis itself is real.

type eventCall struct {
	Kind             velocity.EventKind
	Account, OrderID string
}

type fakeEventRecorder struct {
	mu    sync.Mutex
	calls []eventCall
	err   error
}

func (f *fakeEventRecorder) RecordEvent(_ context.Context, _ time.Time, kind velocity.EventKind, account, orderID string) (velocity.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.calls = append(f.calls, eventCall{kind, account, orderID})
	return velocity.Counts{}, nil
}

type fakeBlocklistAdder struct {
	mu      sync.Mutex
	entries []blocklist.Entry
}

func (f *fakeBlocklistAdder) Add(_ context.Context, e blocklist.Entry) (blocklist.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	return e, nil
}

type fakeReporter struct {
	mu      sync.Mutex
	reports []minfraud.ReportRequest
	err     error
}

func (f *fakeReporter) Report(_ context.Context, r minfraud.ReportRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return f.err
}

// flakyOutbox fails its first n appends, then passes them to the real
// outbox.
type flakyOutbox struct {
	next  EventAppender
	fails atomic.Int32
}

func (f *flakyOutbox) Append(ctx context.Context, e events.Event) (string, error) {
	if f.fails.Add(-1) >= 0 {
		return "", errors.New("READONLY You can't write against a read only replica")
	}
	return f.next.Append(ctx, e)
}

// countingScreener counts Screen calls on top of a real Screener.
type countingScreener struct {
	next  OrderScreener
	calls atomic.Int32
}

func (c *countingScreener) Screen(ctx context.Context, o Order, now time.Time) (Decision, error) {
	c.calls.Add(1)
	return c.next.Screen(ctx, o, now)
}

// countingScreener passes the fused round trip through when next has it;
// a look-up that finds the order stored is not a screening.
func (c *countingScreener) screenUnlessStored(ctx context.Context, o Order, now time.Time, rc recordCheck) (Decision, []any, error) {
	d, vals, err := c.next.(recordScreener).screenUnlessStored(ctx, o, now, rc)
	if err == nil && vals == nil {
		c.calls.Add(1)
	}
	return d, vals, err
}

func (c *countingScreener) roundTripClient() redis.UniversalClient {
	if rs, ok := c.next.(recordScreener); ok {
		return rs.roundTripClient()
	}
	return nil
}

type ordersFixture struct {
	*screenerFixture
	rdb       *redis.Client
	outbox    *events.Outbox
	screen    *countingScreener
	recorder  *fakeEventRecorder
	adder     *fakeBlocklistAdder
	reporter  *fakeReporter
	appender  EventAppender
	clock     time.Time
	cfg       Config
	ordersReg *prometheus.Registry
}

func newOrdersFixture(t *testing.T) *ordersFixture {
	t.Helper()
	rdb := testenv.RedisClient(t)
	prefix := testenv.KeyPrefix(t)
	f := &ordersFixture{
		screenerFixture: newFixture(),
		rdb:             rdb,
		outbox:          events.New(rdb, prefix+"events", 0),
		recorder:        &fakeEventRecorder{},
		adder:           &fakeBlocklistAdder{},
		reporter:        &fakeReporter{},
		clock:           time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		cfg:             testConfig(),
		ordersReg:       prometheus.NewRegistry(),
	}
	f.cfg.KeyPrefix = prefix
	f.appender = f.outbox
	return f
}

func (f *ordersFixture) orders(t *testing.T) *Orders {
	t.Helper()
	f.screen = &countingScreener{next: f.screener(t)}
	o, err := NewOrders(f.cfg, f.rdb, OrderDeps{
		Screener: f.screen, Outbox: f.appender, Velocity: f.recorder, Blocklist: f.adder, MinFraud: f.reporter,
	}, func() time.Time { return f.clock }, nil, f.ordersReg)
	if err != nil {
		t.Fatalf("NewOrders() = %v", err)
	}
	return o
}

func (f *ordersFixture) events(t *testing.T) []events.Stored {
	t.Helper()
	got, err := f.outbox.Range(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func eventTypes(st []events.Stored) []string {
	var out []string
	for _, e := range st {
		out = append(out, e.Type)
	}
	return out
}

func TestSubmitAndGet(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	got, err := svc.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	sid := svc.sid(testOwner, "INV-1001")
	want := Result{
		ScreeningID: sid, OrderID: "INV-1001", Owner: testOwner,
		Status: StatusHeld, Decision: Accept, Score: 0, Reasons: []Reason{},
		Requirements: Requirements{EmailVerification: Pending, KYC: NotRequired, ManualReview: NotRequired},
		Links:        map[string]string{}, CreatedAt: f.clock,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Submit() mismatch (-want +got):\n%s", diff)
	}
	stored, err := svc.Get(ctx, testAccess, "INV-1001")
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("Get() mismatch (-want +got):\n%s", diff)
	}
	// The answer's JSON has the shape of PRODUCT.md: lists and objects,
	// never null.
	b, _ := json.Marshal(stored)
	for _, s := range []string{`"reasons":[]`, `"links":{}`, `"status":"held"`, `"decision":"accept"`,
		`"requirements":{"email_verification":"pending","kyc":"not_required","manual_review":"not_required"}`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("Result JSON %s lacks %s", b, s)
		}
	}
	evs := f.events(t)
	if len(evs) != 1 || evs[0].Type != events.OrderHeld || !evs[0].Time.Equal(f.clock) {
		t.Fatalf("outbox = %v, want one order.held at %v", evs, f.clock)
	}
	var data Result
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || !cmp.Equal(data, want) {
		t.Errorf("order.held data = %s (%v), want the Result", evs[0].Data, err)
	}
	_, tl, err := svc.Timeline(ctx, testAccess, "INV-1001")
	if err != nil {
		t.Fatal(err)
	}
	wantTL := []TimelineEntry{{Time: f.clock, Type: "screened", Detail: "decision accept, score 0, status held"}}
	if diff := cmp.Diff(wantTL, tl); diff != "" {
		t.Errorf("Timeline() mismatch (-want +got):\n%s", diff)
	}
	// Records expire with the retention.
	for _, key := range []string{svc.recordKey(sid), svc.timelineKey(sid)} {
		ttl, err := f.rdb.PTTL(ctx, key).Result()
		if err != nil || ttl <= f.cfg.OrderRetention-time.Minute || ttl > f.cfg.OrderRetention {
			t.Errorf("PTTL(%s) = %v, %v, want about %v", key, ttl, err, f.cfg.OrderRetention)
		}
	}
	// Only the few identifiers later events need are at rest.
	priv, err := f.rdb.HGet(ctx, svc.recordKey(sid), "private").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(priv, "ann@") || strings.Contains(priv, "Main St") {
		t.Errorf("private data %s holds email or address", priv)
	}
}

func TestSubmitIdempotent(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	first, err := svc.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatal(err)
	}
	// Same order, spelled differently and later: same answer, not scored
	// again.
	f.clock = f.clock.Add(time.Hour)
	again, err := DecodeOrder(strings.NewReader(strings.ReplaceAll(strings.Replace(exampleOrder, `"US"`, `"us"`, 1), "\n", " ")))
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Submit(ctx, testOwner, again)
	if err != nil {
		t.Fatalf("Submit(same order) = %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second Submit() differs (-first +second):\n%s", diff)
	}
	if n := f.screen.calls.Load(); n != 1 {
		t.Errorf("screened %d times, want 1", n)
	}
	if n := len(f.velocity.recorded()); n != 1 {
		t.Errorf("velocity recorded %d times, want 1", n)
	}
	if evs := f.events(t); len(evs) != 1 {
		t.Errorf("outbox has %v, want one event", eventTypes(evs))
	}
	// Different body, same id: conflict.
	other := exampleOrderValue()
	other.Amount = "13.00"
	if _, err := svc.Submit(ctx, testOwner, other); !errors.Is(err, ErrConflict) {
		t.Errorf("Submit(other body, same id) = %v, want ErrConflict", err)
	}
	if got := counterValue(t, svc.m.submissions.WithLabelValues("replayed")); got != 1 {
		t.Errorf("replayed metric = %v, want 1", got)
	}
	if got := counterValue(t, svc.m.submissions.WithLabelValues("conflict")); got != 1 {
		t.Errorf("conflict metric = %v, want 1", got)
	}
}

func TestSubmitConcurrent(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			o := exampleOrderValue()
			if i%2 == 1 {
				o.Amount = "99.00" // a different body racing for the same id
			}
			results[i], errs[i] = svc.Submit(ctx, testOwner, o)
		})
	}
	close(start)
	wg.Wait()
	var winners, conflicts int
	var won Result
	for i := range n {
		switch {
		case errs[i] == nil:
			if winners > 0 && !cmp.Equal(won, results[i]) {
				t.Errorf("submission %d got %+v, another got %+v", i, results[i], won)
			}
			won = results[i]
			winners++
		case errors.Is(errs[i], ErrConflict):
			conflicts++
		default:
			t.Errorf("submission %d: %v", i, errs[i])
		}
	}
	// One body won; every submission of it succeeded, every other one
	// conflicts.
	if winners != n/2 || conflicts != n/2 {
		t.Errorf("%d successes and %d conflicts, want %d and %d", winners, conflicts, n/2, n/2)
	}
	if evs := f.events(t); len(evs) != 1 {
		t.Errorf("outbox has %v, want exactly one event", eventTypes(evs))
	}
}

func TestSubmitDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(f *ordersFixture, o *Order)
		status Status
		review Requirement
		email  Requirement
		event  string
	}{
		{"reject", func(f *ordersFixture, o *Order) { o.Billing.Country = "DE" }, StatusRejected, NotRequired, NotRequired, events.OrderRejected},
		{"review", func(f *ordersFixture, o *Order) { f.minfraud.resp, f.minfraud.err = nil, minfraud.ErrUnavailable }, StatusHeld, Pending, Pending, events.OrderHeld},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newOrdersFixture(t)
			o := exampleOrderValue()
			tc.setup(f, &o)
			res, err := f.orders(t).Submit(context.Background(), testOwner, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || res.Requirements.ManualReview != tc.review || res.Requirements.EmailVerification != tc.email {
				t.Errorf("Submit() = %+v, want status %s, manual_review %s, email_verification %s", res, tc.status, tc.review, tc.email)
			}
			if evs := f.events(t); len(evs) != 1 || evs[0].Type != tc.event {
				t.Errorf("outbox = %v, want [%s]", eventTypes(evs), tc.event)
			}
		})
	}
}

// TestSubmitOutboxFailure: the order is stored but its event could not be
// published; the storefront's retry publishes it, once, without screening
// again.
func TestSubmitOutboxFailure(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	flaky := &flakyOutbox{next: f.outbox}
	flaky.fails.Store(1)
	f.appender = flaky
	svc := f.orders(t)
	ctx := context.Background()
	if _, err := svc.Submit(ctx, testOwner, exampleOrderValue()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Submit(outbox down) = %v, want ErrUnavailable", err)
	}
	if evs := f.events(t); len(evs) != 0 {
		t.Fatalf("outbox = %v, want nothing yet", eventTypes(evs))
	}
	res, err := svc.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatalf("retry Submit() = %v", err)
	}
	if res.Status != StatusHeld {
		t.Errorf("retry Submit() = %+v", res)
	}
	if _, err := svc.Submit(ctx, testOwner, exampleOrderValue()); err != nil {
		t.Fatal(err)
	}
	if evs := f.events(t); len(evs) != 1 || evs[0].Type != events.OrderHeld {
		t.Errorf("outbox = %v, want one order.held", eventTypes(evs))
	}
	if n := f.screen.calls.Load(); n != 1 {
		t.Errorf("screened %d times, want 1", n)
	}
}

func TestOrdersRedisDown(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	// A port nothing listens on: the connection is refused at once.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { dead.Close() })
	f.rdb = dead
	svc := f.orders(t)
	ctx := context.Background()
	if _, err := svc.Submit(ctx, testOwner, exampleOrderValue()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Submit() = %v, want ErrUnavailable", err)
	}
	if _, err := svc.Get(ctx, testAccess, "INV-1001"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get() = %v, want ErrUnavailable", err)
	}
	if _, err := svc.RecordEvent(ctx, testAccess, "INV-1001", Event{Type: EventRefund}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RecordEvent() = %v, want ErrUnavailable", err)
	}
	if n := f.screen.calls.Load(); n != 0 {
		t.Errorf("screened %d times with Redis down, want 0", n)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	for _, id := range []string{"NOPE-1", "", "a/b", "{x}", strings.Repeat("a", 65)} {
		if _, err := svc.Get(context.Background(), testAccess, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if _, _, err := svc.Timeline(context.Background(), testAccess, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Timeline(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := svc.RecordEvent(context.Background(), testAccess, id, Event{Type: EventCancelled}); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordEvent(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestRecordEventChargeback(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	submitted, err := svc.Submit(ctx, testOwner, exampleOrderValue())
	if err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(30 * 24 * time.Hour)
	res, err := svc.RecordEvent(ctx, testAccess, "INV-1001", Event{Type: EventChargeback, Reason: "fraudulent (4837)"})
	if err != nil {
		t.Fatalf("RecordEvent(chargeback) = %v", err)
	}
	if diff := cmp.Diff(submitted, res); diff != "" {
		t.Errorf("result changed (-before +after):\n%s", diff)
	}
	sid := svc.sid(testOwner, "INV-1001")
	if diff := cmp.Diff([]eventCall{{velocity.EventChargeback, "42", sid}}, f.recorder.calls); diff != "" {
		t.Errorf("velocity events mismatch (-want +got):\n%s", diff)
	}
	wantBL := []blocklist.Entry{
		{Kind: blocklist.KindAccount, Value: "42", Reason: "chargeback on order INV-1001 (" + sid + ")", AddedBy: "chargeback event", AddedAt: f.clock},
		{Kind: blocklist.KindCard, Value: "411111:1111", Reason: "chargeback on order INV-1001 (" + sid + ")", AddedBy: "chargeback event", AddedAt: f.clock},
	}
	if diff := cmp.Diff(wantBL, f.adder.entries); diff != "" {
		t.Errorf("blocklist entries mismatch (-want +got):\n%s", diff)
	}
	wantReport := []minfraud.ReportRequest{{
		IPAddress: netip.MustParseAddr("198.51.100.7"), Tag: minfraud.TagChargeback,
		MinFraudID: f.minfraud.resp.ID, Notes: "fraudulent (4837)", TransactionID: sid,
	}}
	if diff := cmp.Diff(wantReport, f.reporter.reports, addrCmp); diff != "" {
		t.Errorf("minFraud reports mismatch (-want +got):\n%s", diff)
	}
	evs := f.events(t)
	if diff := cmp.Diff([]string{events.OrderHeld, events.OrderChargeback, events.AccountRestricted}, eventTypes(evs)); diff != "" {
		t.Errorf("outbox mismatch (-want +got):\n%s", diff)
	}
	var restricted map[string]string
	if err := json.Unmarshal(evs[2].Data, &restricted); err != nil || restricted["account_id"] != "42" || restricted["order_id"] != "INV-1001" {
		t.Errorf("account.restricted data = %s", evs[2].Data)
	}
	_, tl, err := svc.Timeline(ctx, testAccess, "INV-1001")
	if err != nil {
		t.Fatal(err)
	}
	wantTL := TimelineEntry{Time: f.clock, Type: "chargeback", Reason: "fraudulent (4837)",
		Detail: "counted on the account; account blocklisted; card blocklisted; reported to minFraud as chargeback"}
	if len(tl) != 2 || !cmp.Equal(tl[1], wantTL) {
		t.Errorf("Timeline() = %+v, want screened then %+v", tl, wantTL)
	}

	// The same chargeback again (a retried POST) changes nothing.
	if _, err := svc.RecordEvent(ctx, testAccess, "INV-1001", Event{Type: EventChargeback, Reason: "again"}); err != nil {
		t.Fatal(err)
	}
	if len(f.recorder.calls) != 1 || len(f.adder.entries) != 2 || len(f.reporter.reports) != 1 || len(f.events(t)) != 3 {
		t.Errorf("repeated chargeback had effects: %d velocity, %d blocklist, %d reports, %d events",
			len(f.recorder.calls), len(f.adder.entries), len(f.reporter.reports), len(f.events(t)))
	}
	if _, tl, _ := svc.Timeline(ctx, testAccess, "INV-1001"); len(tl) != 2 {
		t.Errorf("timeline has %d entries after a repeated chargeback, want 2", len(tl))
	}
}

// TestSevenDigitBIN: an order may give a 7-digit BIN; the card is then
// counted, looked up and, after a chargeback, blocklisted by its first 6
// digits, the form ident.CardFingerprint and the blocklist accept (and
// minFraud's), rather than silently not at all.
func TestSevenDigitBIN(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	o := exampleOrderValue()
	o.Payment.CardBIN = "4111111"
	if _, err := svc.Submit(ctx, testOwner, o); err != nil {
		t.Fatal(err)
	}
	if got := f.velocity.recorded(); len(got) != 1 || got[0].Card != "411111:1111" {
		t.Errorf("velocity orders = %+v, want card 411111:1111", got)
	}
	if got := f.blocklist.queries; len(got) != 1 || got[0].Card != "411111:1111" {
		t.Errorf("blocklist queries = %+v, want card 411111:1111", got)
	}
	if _, err := svc.RecordEvent(ctx, testAccess, o.OrderID, Event{Type: EventChargeback}); err != nil {
		t.Fatal(err)
	}
	var cards []string
	for _, e := range f.adder.entries {
		if e.Kind == blocklist.KindCard {
			cards = append(cards, e.Value)
		}
	}
	if diff := cmp.Diff([]string{"411111:1111"}, cards); diff != "" {
		t.Errorf("cards blocklisted after the chargeback (-want +got):\n%s", diff)
	}
}

func TestRecordEventKinds(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	if _, err := svc.Submit(ctx, testOwner, exampleOrderValue()); err != nil {
		t.Fatal(err)
	}
	f.reporter.err = fmt.Errorf("x: %w", minfraud.ErrUnavailable)
	for _, e := range []Event{
		{Type: EventPaymentFailed, Reason: "insufficient funds"},
		{Type: EventPaymentFailed, Reason: "do not honor"},
		{Type: EventRefund},
		{Type: EventFraudConfirmed, Reason: "stolen card"},
		{Type: EventCancelled, Reason: "customer asked"},
		{Type: EventCancelled, Reason: "twice"},
	} {
		res, err := svc.RecordEvent(ctx, testAccess, "INV-1001", e)
		if err != nil {
			t.Fatalf("RecordEvent(%s) = %v", e.Type, err)
		}
		if res.Status != StatusHeld {
			t.Errorf("RecordEvent(%s) status = %s, want held (events do not change the status)", e.Type, res.Status)
		}
	}
	sid := svc.sid(testOwner, "INV-1001")
	wantCalls := []eventCall{
		{velocity.EventPaymentFailed, "42", sid},
		{velocity.EventPaymentFailed, "42", sid},
		{velocity.EventRefund, "42", sid},
	}
	if diff := cmp.Diff(wantCalls, f.recorder.calls); diff != "" {
		t.Errorf("velocity events mismatch (-want +got):\n%s", diff)
	}
	if len(f.adder.entries) != 0 {
		t.Errorf("blocklisted %v without a chargeback", f.adder.entries)
	}
	if len(f.reporter.reports) != 1 || f.reporter.reports[0].Tag != minfraud.TagSuspectedFraud {
		t.Errorf("minFraud reports = %+v, want one suspected_fraud", f.reporter.reports)
	}
	if got := counterValue(t, svc.m.reportFailures); got != 1 {
		t.Errorf("report failures metric = %v, want 1", got)
	}
	_, tl, err := svc.Timeline(ctx, testAccess, "INV-1001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		got = append(got, e.Type+"|"+e.Detail)
	}
	want := []string{
		"screened|decision accept, score 0, status held",
		"payment_failed|counted on the account",
		"payment_failed|counted on the account",
		"refund|counted on the account",
		"fraud_confirmed|minFraud report (suspected_fraud) failed",
		"cancelled|",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline mismatch (-want +got):\n%s", diff)
	}
	wantEvents := []string{events.OrderHeld, events.OrderPaymentFailed, events.OrderPaymentFailed, events.OrderRefund,
		events.OrderFraudConfirmed, events.OrderCancelled}
	if diff := cmp.Diff(wantEvents, eventTypes(f.events(t))); diff != "" {
		t.Errorf("outbox mismatch (-want +got):\n%s", diff)
	}
}

// TestRecordEventRetryAfterFailure: a chargeback whose velocity update
// failed is not marked recorded, so the storefront's retry does the work.
func TestRecordEventRetryAfterFailure(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := f.orders(t)
	ctx := context.Background()
	if _, err := svc.Submit(ctx, testOwner, exampleOrderValue()); err != nil {
		t.Fatal(err)
	}
	f.recorder.err = fmt.Errorf("x: %w", velocity.ErrUnavailable)
	if _, err := svc.RecordEvent(ctx, testAccess, "INV-1001", Event{Type: EventChargeback}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RecordEvent(velocity down) = %v, want ErrUnavailable", err)
	}
	f.recorder.err = nil
	if _, err := svc.RecordEvent(ctx, testAccess, "INV-1001", Event{Type: EventChargeback}); err != nil {
		t.Fatalf("retry RecordEvent() = %v", err)
	}
	if len(f.recorder.calls) != 1 || len(f.adder.entries) != 2 {
		t.Errorf("after retry: %d velocity calls, %d blocklist entries, want 1 and 2", len(f.recorder.calls), len(f.adder.entries))
	}
}

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body  string
		want  Event
		field string
		err   error
	}{
		{body: `{"type":"chargeback","reason":"4837"}`, want: Event{Type: EventChargeback, Reason: "4837"}},
		{body: `{"type":"cancelled"}`, want: Event{Type: EventCancelled}},
		{body: `{"type":"refunded"}`, field: "type", err: ErrInvalidInput},
		{body: `{}`, field: "type", err: ErrInvalidInput},
		{body: `{"type":"refund","amount":"1"}`, field: "amount", err: ErrInvalidInput},
		{body: `{"type":1}`, field: "type", err: ErrInvalidInput},
		{body: `{"type":"refund","reason":"a\u0000b"}`, field: "reason", err: ErrInvalidInput},
		{body: `{"type":"refund"} x`, err: ErrInvalidInput},
		{body: `[]`, err: ErrInvalidInput},
		{body: `{"type":`, err: ErrInvalidInput},
		{body: `{"type":"refund","reason":"` + strings.Repeat("a", MaxOrderBytes) + `"}`, err: ErrTooLarge},
	}
	for _, tc := range tests {
		got, err := DecodeEvent(strings.NewReader(tc.body))
		if tc.err == nil {
			if err != nil || got != tc.want {
				t.Errorf("DecodeEvent(%.40q) = %+v, %v, want %+v", tc.body, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("DecodeEvent(%.40q) = %v, want %v", tc.body, err, tc.err)
			continue
		}
		var fe *FieldError
		if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("DecodeEvent(%.40q) = %v, want a FieldError for %s", tc.body, err, tc.field)
		}
	}
}

// The namespace most tests submit and read in: one storefront's API key.
var (
	testOwner     = APIKeyOwner("shop")
	testAccess    = Access{Owner: testOwner}
	officerAccess = Access{Owner: testOwner, Officer: true}
)

// sid is the screening id of (owner, orderID) under this service's key.
func (s *Orders) sid(owner Owner, orderID string) string {
	return screeningID(s.hasher, owner, orderID)
}
