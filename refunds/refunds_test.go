package refunds

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/kind"
)

var (
	now  = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	paid = now.Add(-6 * time.Hour)
)

func cfg(t *testing.T) Config {
	t.Helper()
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func ts(t time.Time) string    { return t.Format(time.RFC3339) }
func hours(h float64) *float64 { return &h }

func order() Order {
	return Order{Status: "cleared", PaidAt: paid, CreatedAt: paid.Add(-time.Minute), Amount: "30.00", Currency: "USD", Categories: []string{"vps"}}
}

func failure(at time.Time) Request { return Request{Reason: WhyFailure, FailureAt: ts(at)} }

// period is a 30-day paid period with `left` of it remaining at now.
func period(why Why, left time.Duration, outage *float64) Request {
	end := now.Add(left)
	return Request{Reason: why, PeriodStart: ts(end.Add(-30 * 24 * time.Hour)), PeriodEnd: ts(end), OutageHours: outage}
}

func codes(a Answer) []string {
	var out []string
	for _, r := range a.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// TestDecide is every rule of issue 11 at its edges.
func TestDecide(t *testing.T) {
	t.Parallel()
	c := cfg(t)
	tests := []struct {
		name     string
		o        func(*Order)
		st       Standing
		req      Request
		eligible bool
		amount   string
		fraction float64
		codes    []string
	}{
		{name: "failure 11h59m after payment", o: func(o *Order) { o.PaidAt = now.Add(-11*time.Hour - 59*time.Minute) },
			req: failure(now.Add(-time.Hour)), eligible: true, amount: "30.00", fraction: 1, codes: []string{CodeFailureInWindow}},
		{name: "failure exactly 12h after payment", o: func(o *Order) { o.PaidAt = now.Add(-12 * time.Hour) },
			req: failure(now.Add(-time.Hour)), eligible: true, amount: "30.00", fraction: 1, codes: []string{CodeFailureInWindow}},
		{name: "failure 12h01m after payment", o: func(o *Order) { o.PaidAt = now.Add(-12*time.Hour - time.Minute) },
			req: failure(now.Add(-time.Hour)), amount: "0.00", codes: []string{CodeWindowPassed}},
		{name: "no paid_at: the creation time is the payment", o: func(o *Order) { o.PaidAt = time.Time{}; o.CreatedAt = now.Add(-12*time.Hour - time.Minute) },
			req: failure(now.Add(-time.Hour)), amount: "0.00", codes: []string{CodeWindowPassed}},
		{name: "failure before the payment", req: failure(paid.Add(-time.Minute)), amount: "0.00", codes: []string{CodeFailureBeforePayment}},
		{name: "second refund of the account", st: Standing{Refunds: 1}, req: failure(now),
			eligible: true, amount: "30.00", fraction: 1, codes: []string{CodeFailureInWindow}},
		{name: "third refund of the account", st: Standing{Refunds: 2}, req: failure(now), amount: "0.00", codes: []string{CodeLimitReached}},
		{name: "this order already refunded", o: func(o *Order) { o.Refunded = true }, st: Standing{Refunds: 1}, req: failure(now),
			amount: "0.00", codes: []string{CodeAlreadyRefunded}},
		{name: "special offer item", o: func(o *Order) { o.Categories = []string{"vps", "Special_Offer"} }, req: failure(now),
			amount: "0.00", codes: []string{CodeSpecialOffer}},
		{name: "chargeback after a refund", st: Standing{Refunds: 1, Chargebacks: 1, Restricted: true, RestrictedReason: "chargeback on order A-1"},
			req: failure(now), amount: "0.00", codes: []string{CodeChargeback, CodeRestricted}},
		{name: "chargeback on this order", o: func(o *Order) { o.ChargedBack = true }, req: failure(now), amount: "0.00", codes: []string{CodeChargeback}},
		{name: "suspended for a terms violation", st: Standing{Flags: []Flag{{Kind: FlagTermsViolationSuspension}}}, req: failure(now),
			amount: "0.00", codes: []string{CodeTermsSuspension}},
		{name: "abuse flags", st: Standing{Flags: []Flag{{Kind: FlagTrialAbuse}, {Kind: FlagAttacks}, {Kind: FlagBans}, {Kind: FlagStaffAbuse}}}, req: failure(now),
			amount: "0.00", codes: []string{CodeAbuseFlag, CodeAbuseFlag, CodeAbuseFlag, CodeAbuseFlag}},
		{name: "expired hold: not activated, not refunded", o: func(o *Order) { o.Status = "expired" }, req: failure(now),
			amount: "0.00", codes: []string{CodeHoldExpired}},
		{name: "withdrawn, a third of the period left", req: period(WhyWithdrawn, 10*24*time.Hour, nil),
			eligible: true, amount: "10.00", fraction: 0.333333, codes: []string{CodeWithdrawnProrated}},
		{name: "withdrawn, rounded down", o: func(o *Order) { o.Amount = "10.00" }, req: period(WhyWithdrawn, 10*24*time.Hour, nil),
			eligible: true, amount: "3.33", fraction: 0.333333, codes: []string{CodeWithdrawnProrated}},
		{name: "withdrawn, zero-decimal currency", o: func(o *Order) { o.Amount, o.Currency = "3000", "JPY" }, req: period(WhyWithdrawn, 15*24*time.Hour, nil),
			eligible: true, amount: "1500", fraction: 0.5, codes: []string{CodeWithdrawnProrated}},
		{name: "withdrawn after the period ended", req: period(WhyWithdrawn, -time.Hour, nil), amount: "0.00", codes: []string{CodePeriodOver}},
		{name: "withdrawn long after payment: the window is for failures only", o: func(o *Order) { o.PaidAt = now.Add(-20 * 24 * time.Hour) },
			req: period(WhyWithdrawn, 10*24*time.Hour, nil), eligible: true, amount: "10.00", fraction: 0.333333, codes: []string{CodeWithdrawnProrated}},
		{name: "outage 24h: not longer than the threshold", req: period(WhyOutage, 15*24*time.Hour, hours(24)), amount: "0.00", codes: []string{CodeOutageBelow}},
		{name: "outage 24.5h, half the period left", req: period(WhyOutage, 15*24*time.Hour, hours(24.5)),
			eligible: true, amount: "15.00", fraction: 0.5, codes: []string{CodeOutageProrated}},
		{name: "outage on a special offer with the limit reached", o: func(o *Order) { o.Categories = []string{"special_offer"} }, st: Standing{Refunds: 2},
			req: period(WhyOutage, 15*24*time.Hour, hours(48)), amount: "0.00", codes: []string{CodeSpecialOffer, CodeLimitReached}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := order()
			if tt.o != nil {
				tt.o(&o)
			}
			got, err := Decide(c, o, tt.st, tt.req, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Eligible != tt.eligible || got.Amount != tt.amount || got.Fraction != tt.fraction || got.Destination != "account_balance" || got.Currency != o.Currency {
				t.Errorf("got eligible %v amount %s fraction %v destination %s, want %v %s %v", got.Eligible, got.Amount, got.Fraction, got.Destination, tt.eligible, tt.amount, tt.fraction)
			}
			if diff := cmp.Diff(tt.codes, codes(got)); diff != "" {
				t.Errorf("reason codes (-want +got):\n%s\n%+v", diff, got.Reasons)
			}
			for _, r := range got.Reasons {
				if r.Detail == "" {
					t.Errorf("reason %s without detail", r.Code)
				}
			}
		})
	}
}

// TestDecideRefusesBadRequests: missing fields for the reason, fields of
// another reason, times in the future, bad times: 400 naming the field.
func TestDecideRefusesBadRequests(t *testing.T) {
	t.Parallel()
	c := cfg(t)
	future := ts(now.Add(time.Minute))
	tests := []struct {
		name  string
		req   Request
		field string
	}{
		{"no reason", Request{}, "reason"},
		{"unknown reason", Request{Reason: "boredom"}, "reason"},
		{"failure without failure_at", Request{Reason: WhyFailure}, "failure_at"},
		{"failure in the future", Request{Reason: WhyFailure, FailureAt: future}, "failure_at"},
		{"failure_at not RFC 3339", Request{Reason: WhyFailure, FailureAt: "2026-03-10 10:00"}, "failure_at"},
		{"failure with a period", Request{Reason: WhyFailure, FailureAt: ts(now), PeriodStart: ts(now)}, "period_start"},
		{"withdrawn without period_end", Request{Reason: WhyWithdrawn, PeriodStart: ts(now)}, "period_end"},
		{"withdrawn without period_start", Request{Reason: WhyWithdrawn, PeriodEnd: ts(now)}, "period_start"},
		{"withdrawn with outage_hours", Request{Reason: WhyWithdrawn, PeriodStart: ts(now), PeriodEnd: future, OutageHours: hours(30)}, "outage_hours"},
		{"period starting in the future", Request{Reason: WhyWithdrawn, PeriodStart: future, PeriodEnd: ts(now.Add(time.Hour))}, "period_start"},
		{"period ending before it starts", Request{Reason: WhyWithdrawn, PeriodStart: ts(now), PeriodEnd: ts(now.Add(-time.Hour))}, "period_end"},
		{"outage without outage_hours", Request{Reason: WhyOutage, PeriodStart: ts(now), PeriodEnd: future}, "outage_hours"},
		{"outage of 0 hours", Request{Reason: WhyOutage, PeriodStart: ts(now), PeriodEnd: future, OutageHours: hours(0)}, "outage_hours"},
		{"outage without a period", Request{Reason: WhyOutage, OutageHours: hours(30)}, "period_start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decide(c, order(), Standing{}, tt.req, now)
			fe, ok := errors.AsType[*FieldError](err)
			if !ok || fe.Field != tt.field || !errors.Is(err, kind.ErrInvalidInput) {
				t.Fatalf("got %v, want a 400 naming %s", err, tt.field)
			}
		})
	}
	o := order()
	o.Amount = ""
	if _, err := Decide(c, o, Standing{}, failure(now), now); !errors.Is(err, ErrNoOrderFacts) || !errors.Is(err, kind.ErrConflict) {
		t.Fatalf("order without an amount: %v", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c := cfg(t)
	want := Config{Window: 12 * time.Hour, OutageThreshold: 24 * time.Hour, Destination: "account_balance", ExcludedCategories: []string{"special_offer"}, MaxPerAccount: 2}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	bad := Config{Window: time.Second, OutageThreshold: time.Second, Destination: "card", ExcludedCategories: []string{" "}, MaxPerAccount: -1}
	err := bad.Validate()
	for _, key := range []string{"window", "outage_threshold", "destination", "excluded_categories", "max_per_account"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not name %s: %v", key, err)
		}
	}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, field string
		ok          bool
	}{
		{`{"reason":"failure","failure_at":"2026-03-10T10:00:00Z"}`, "", true},
		{`{"reason":"outage","outage_hours":30,"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T00:00:00Z"}`, "", true},
		{`{"reason":"failure","amount":"1"}`, "amount", false},
		{`{"reason":"outage","outage_hours":"30"}`, "outage_hours", false},
		{`{"reason":"failure"} {}`, "", false},
		{`[]`, "", false},
		{`{"reason":"failure","failure_at":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, "", false},
	}
	for _, tt := range tests {
		_, err := DecodeRequest(strings.NewReader(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%.60s: %v", tt.body, err)
			continue
		}
		if err == nil {
			continue
		}
		if fe, ok := errors.AsType[*FieldError](err); tt.field != "" && (!ok || fe.Field != tt.field) {
			t.Errorf("%.60s: %v, want field %s", tt.body, err, tt.field)
		}
		if !errors.Is(err, kind.ErrInvalidInput) && !errors.Is(err, kind.ErrTooLarge) {
			t.Errorf("%.60s: %v is neither 400 nor 413", tt.body, err)
		}
	}
}

// FuzzDecodeRequest: whatever the body, the decoder and the rules answer
// a request or a 400/409, never panic; what they accept re-encodes to a
// request that decodes the same.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"reason":"failure","failure_at":"2026-03-10T10:00:00Z"}`))
	f.Add([]byte(`{"reason":"withdrawn","period_start":"2026-03-01T00:00:00+01:00","period_end":"2026-04-01T00:00:00Z"}`))
	f.Add([]byte(`{"reason":"outage","outage_hours":1e308,"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T00:00:00Z"}`))
	f.Add([]byte(`{"reason":"outage","outage_hours":-0}`))
	c := Config{}
	c.SetDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, kind.ErrInvalidInput) && !errors.Is(err, kind.ErrTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRequest(bytes.NewReader(b))
		if err != nil || !cmp.Equal(req, again) {
			t.Fatalf("re-decoding %s: %+v, %v; want %+v", b, again, err, req)
		}
		ans, err := Decide(c, order(), Standing{}, req, now)
		if err != nil {
			if !errors.Is(err, kind.ErrInvalidInput) {
				t.Fatalf("Decide: error of no kind: %v", err)
			}
			return
		}
		if ans.Eligible && len(ans.Reasons) != 1 || !ans.Eligible && ans.Amount != "0.00" {
			t.Fatalf("answer %+v", ans)
		}
		if ans.Fraction < 0 || ans.Fraction > 1 || len(ans.Reasons) == 0 {
			t.Fatalf("answer %+v", ans)
		}
	})
}
