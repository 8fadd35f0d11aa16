package screening

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/events"
)

// fixedScreener decides every order the same way.
type fixedScreener struct{ d Decision }

func (f fixedScreener) Screen(context.Context, Order, time.Time) (Decision, error) { return f.d, nil }

var reviewDecision = Decision{Outcome: Review, Score: 55, Reasons: []Reason{{Code: "free_email", Detail: "free mail"}}}

// reviewOrders builds an Orders service whose screener decides d, and
// submits the example order.
func reviewOrders(t *testing.T, f *ordersFixture, d Decision) *Orders {
	t.Helper()
	svc, err := NewOrders(f.cfg, f.rdb, OrderDeps{
		Screener: fixedScreener{d}, Outbox: f.appender, Velocity: f.recorder, Blocklist: f.adder,
	}, func() time.Time { return f.clock }, nil, f.ordersReg)
	if err != nil {
		t.Fatalf("NewOrders() = %v", err)
	}
	if _, err := svc.Submit(context.Background(), testOwner, exampleOrderValue()); err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	return svc
}

func TestReview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		decision Outcome
		script   bool // outbox written by the review script
		want     Result
		event    string
	}{
		{
			name: "accept stays held", decision: Accept, script: true,
			want: Result{Status: StatusHeld, Decision: Accept,
				Requirements: Requirements{EmailVerification: Pending, KYC: NotRequired, ManualReview: Done}},
		},
		{
			name: "reject", decision: Reject, script: true, event: events.OrderRejected,
			want: Result{Status: StatusRejected, Decision: Reject,
				Requirements: Requirements{EmailVerification: NotRequired, KYC: NotRequired, ManualReview: Done}},
		},
		{
			name: "reject, outbox apart", decision: Reject, event: events.OrderRejected,
			want: Result{Status: StatusRejected, Decision: Reject,
				Requirements: Requirements{EmailVerification: NotRequired, KYC: NotRequired, ManualReview: Done}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newOrdersFixture(t)
			if !tc.script {
				f.appender = &flakyOutbox{next: f.outbox}
			}
			svc := reviewOrders(t, f, reviewDecision)
			if (svc.so != nil) != tc.script {
				t.Fatalf("script outbox = %v, want %v", svc.so != nil, tc.script)
			}
			ctx := context.Background()
			f.clock = f.clock.Add(time.Hour)
			got, err := svc.Review(ctx, officerAccess, "INV-1001", ManualReview{Decision: tc.decision, Reason: "  checked the ID  "}, "olga")
			if err != nil {
				t.Fatalf("Review() = %v", err)
			}
			code := "manual_review_accepted"
			if tc.decision == Reject {
				code = "manual_review_rejected"
			}
			want := tc.want
			want.ScreeningID, want.OrderID, want.Owner = svc.sid(testOwner, "INV-1001"), "INV-1001", testOwner
			want.Score, want.Links, want.CreatedAt = 55, map[string]string{}, f.clock.Add(-time.Hour)
			want.Reasons = []Reason{reviewDecision.Reasons[0], {Code: code, Detail: "Reviewed by olga: checked the ID"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Review() mismatch (-want +got):\n%s", diff)
			}
			stored, err := svc.Get(ctx, testAccess, "INV-1001")
			if err != nil || !cmp.Equal(stored, want) {
				t.Errorf("Get() = %+v, %v, want %+v", stored, err, want)
			}
			_, tl, err := svc.Timeline(ctx, testAccess, "INV-1001")
			if err != nil {
				t.Fatal(err)
			}
			wantEntry := TimelineEntry{Time: f.clock, Type: "reviewed", Reason: "checked the ID",
				Detail: string(tc.decision) + " by olga, status " + string(want.Status)}
			if len(tl) != 2 || !cmp.Equal(tl[1], wantEntry) {
				t.Errorf("Timeline() = %+v, want screened then %+v", tl, wantEntry)
			}
			evs := f.events(t)
			wantTypes := []string{events.OrderHeld}
			if tc.event != "" {
				wantTypes = append(wantTypes, tc.event)
			}
			if diff := cmp.Diff(wantTypes, eventTypes(evs)); diff != "" {
				t.Fatalf("outbox mismatch (-want +got):\n%s", diff)
			}
			if tc.event != "" {
				var data Result
				if err := json.Unmarshal(evs[1].Data, &data); err != nil || !cmp.Equal(data, want) || !evs[1].Time.Equal(f.clock) {
					t.Errorf("%s = %s at %v (%v), want the Result at %v", tc.event, evs[1].Data, evs[1].Time, err, f.clock)
				}
			}
			// Reviewing twice is a conflict that says why.
			_, err = svc.Review(ctx, officerAccess, "INV-1001", ManualReview{Decision: Accept, Reason: "again"}, "olga")
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("second Review() = %v, want ErrConflict", err)
			}
			wantMsg := "has no manual review pending"
			if tc.decision == Reject {
				wantMsg = "is rejected"
			}
			if !strings.Contains(err.Error(), wantMsg) {
				t.Errorf("second Review() = %q, want it to say %q", err, wantMsg)
			}
			if n := len(f.events(t)); n != len(wantTypes) {
				t.Errorf("outbox has %d events after a refused review, want %d", n, len(wantTypes))
			}
		})
	}
}

func TestReviewRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	f := newOrdersFixture(t)
	svc := reviewOrders(t, f, Decision{Outcome: Accept, Reasons: []Reason{}})
	_, err := svc.Review(ctx, officerAccess, "INV-1001", ManualReview{Decision: Reject, Reason: "looks odd"}, "olga")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "no manual review pending") {
		t.Errorf("Review(accepted order) = %v, want ErrConflict: no manual review pending", err)
	}
	for _, id := range []string{"NOPE-1", "", "{x}"} {
		if _, err := svc.Review(ctx, officerAccess, id, ManualReview{Decision: Accept, Reason: "ok"}, "olga"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Review(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := svc.Review(ctx, officerAccess, "INV-1001", ManualReview{Decision: Review, Reason: "ok"}, "olga"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Review(decision review) = %v, want ErrInvalidInput", err)
	}
	if got, err := svc.Get(ctx, testAccess, "INV-1001"); err != nil || got.Requirements.ManualReview != NotRequired || len(got.Reasons) != 0 {
		t.Errorf("Get() after refused reviews = %+v, %v: changed", got, err)
	}
}

func TestReviewOutboxFailure(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	flaky := &flakyOutbox{next: f.outbox}
	f.appender = flaky
	svc := reviewOrders(t, f, reviewDecision)
	flaky.fails.Store(1)
	ctx := context.Background()
	if _, err := svc.Review(ctx, officerAccess, "INV-1001", ManualReview{Decision: Reject, Reason: "stolen card"}, "olga"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Review(outbox down) = %v, want ErrUnavailable", err)
	}
	// The documented limitation: the review stands, its event is lost.
	if got, err := svc.Get(ctx, testAccess, "INV-1001"); err != nil || got.Status != StatusRejected {
		t.Errorf("Get() = %+v, %v, want the review stored", got, err)
	}
}

func TestReviewConcurrent(t *testing.T) {
	t.Parallel()
	f := newOrdersFixture(t)
	svc := reviewOrders(t, f, reviewDecision)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			d := Accept
			if i%2 == 1 {
				d = Reject
			}
			_, errs[i] = svc.Review(context.Background(), officerAccess, "INV-1001", ManualReview{Decision: d, Reason: "racing"}, "olga")
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict):
			t.Errorf("Review() = %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d reviews succeeded, want exactly 1 (errors %v)", ok, errs)
	}
	_, tl, err := svc.Timeline(context.Background(), testAccess, "INV-1001")
	if err != nil || len(tl) != 2 {
		t.Errorf("Timeline() = %+v, %v, want screened and one review", tl, err)
	}
	got, err := svc.Get(context.Background(), testAccess, "INV-1001")
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := 1
	if got.Status == StatusRejected {
		wantEvents = 2
	}
	if n := len(f.events(t)); n != wantEvents {
		t.Errorf("outbox has %d events, want %d", n, wantEvents)
	}
}

func TestDecodeReview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		want  ManualReview
		field string // "" with want: valid; "-": invalid without a field
	}{
		{name: "accept", body: `{"decision":"accept","reason":" ok "}`, want: ManualReview{Decision: Accept, Reason: "ok"}},
		{name: "reject", body: `{"decision":"reject","reason":"stolen card"}`, want: ManualReview{Decision: Reject, Reason: "stolen card"}},
		{name: "bad decision", body: `{"decision":"review","reason":"x"}`, field: "decision"},
		{name: "no decision", body: `{"reason":"x"}`, field: "decision"},
		{name: "empty reason", body: `{"decision":"accept","reason":"   "}`, field: "reason"},
		{name: "long reason", body: `{"decision":"accept","reason":"` + strings.Repeat("é", 513) + `"}`, field: "reason"},
		{name: "control in reason", body: `{"decision":"accept","reason":"a\u0000b"}`, field: "reason"},
		{name: "unknown field", body: `{"decision":"accept","reason":"x","officer":"me"}`, field: "officer"},
		{name: "wrong type", body: `{"decision":1,"reason":"x"}`, field: "decision"},
		{name: "two values", body: `{"decision":"accept","reason":"x"} {}`, field: "-"},
		{name: "not an object", body: `["accept"]`, field: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeReview(strings.NewReader(tc.body))
			if tc.field == "" {
				if err != nil || got != tc.want {
					t.Errorf("DecodeReview() = %+v, %v, want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("DecodeReview() = %v, want ErrInvalidInput", err)
			}
			if tc.field == "-" {
				return
			}
			fe, ok := errors.AsType[*FieldError](err)
			if !ok || fe.Field != tc.field {
				t.Errorf("DecodeReview() = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}
