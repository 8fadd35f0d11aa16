package orders

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func req(email, kyc, review Requirement) Requirements {
	return Requirements{EmailVerification: email, KYC: kyc, ManualReview: review}
}

// TestCreated: every outcome x hold policy gives the right status,
// requirements and creation event.
func TestCreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		outcome screening.Outcome
		needs   Needs
		status  Status
		reqs    Requirements
		event   string
	}{
		{"reject", screening.Reject, Needs{Email: true, KYC: true}, StatusRejected, req(NotRequired, NotRequired, NotRequired), events.OrderRejected},
		{"accept, email", screening.Accept, Needs{Email: true}, StatusHeld, req(Pending, NotRequired, NotRequired), events.OrderHeld},
		{"accept, kyc", screening.Accept, Needs{KYC: true}, StatusHeld, req(NotRequired, Pending, NotRequired), events.OrderHeld},
		{"accept, nothing", screening.Accept, Needs{}, StatusCleared, req(NotRequired, NotRequired, NotRequired), events.OrderCleared},
		{"review, nothing", screening.Review, Needs{}, StatusHeld, req(NotRequired, NotRequired, Pending), events.OrderHeld},
		{"review, all", screening.Review, Needs{Email: true, KYC: true}, StatusHeld, req(Pending, Pending, Pending), events.OrderHeld},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Created(Record{ScreeningID: "s"}, screening.Decision{Outcome: tc.outcome}, tc.needs, t0, time.Hour)
			if c.Next.Status != tc.status || c.Next.Requirements != tc.reqs || c.Next.Version != 1 {
				t.Errorf("status %s reqs %+v version %d, want %s %+v 1", c.Next.Status, c.Next.Requirements, c.Next.Version, tc.status, tc.reqs)
			}
			if diff := cmp.Diff([]string{tc.event}, c.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			wantUntil := time.Time{}
			if tc.status == StatusHeld {
				wantUntil = t0.Add(time.Hour)
			}
			if !c.Next.HoldUntil.Equal(wantUntil) {
				t.Errorf("HoldUntil = %v, want %v", c.Next.HoldUntil, wantUntil)
			}
		})
	}
}

func held(reqs Requirements) Record {
	return Record{ScreeningID: "s", Version: 3, Status: StatusHeld, Decision: screening.Review, Requirements: reqs, HoldUntil: t0.Add(time.Hour)}
}

// TestComplete: a requirement done clears the order exactly when it was
// the last pending one; anything not pending, or an order not held, is no
// change.
func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		r      Record
		n      ReqName
		status Status
		reqs   Requirements
		events []string
		err    error
	}{
		{"last one clears", held(req(Pending, NotRequired, Done)), ReqEmail, StatusCleared, req(Done, NotRequired, Done), []string{events.OrderCleared}, nil},
		{"kyc still pending", held(req(Pending, Pending, NotRequired)), ReqEmail, StatusHeld, req(Done, Pending, NotRequired), nil, nil},
		{"review still pending", held(req(NotRequired, Pending, Pending)), ReqKYC, StatusHeld, req(NotRequired, Done, Pending), nil, nil},
		{"kyc last", held(req(Done, Pending, NotRequired)), ReqKYC, StatusCleared, req(Done, Done, NotRequired), []string{events.OrderCleared}, nil},
		{"already done", held(req(Done, Pending, NotRequired)), ReqEmail, "", Requirements{}, nil, ErrNoChange},
		{"not required", held(req(NotRequired, Pending, NotRequired)), ReqEmail, "", Requirements{}, nil, ErrNoChange},
		{"cleared order", Record{Status: StatusCleared, Requirements: req(Pending, NotRequired, NotRequired)}, ReqEmail, "", Requirements{}, nil, ErrNoChange},
		{"rejected order", Record{Status: StatusRejected}, ReqKYC, "", Requirements{}, nil, ErrNoChange},
		{"expired order", Record{Status: StatusExpired, Requirements: req(Pending, NotRequired, NotRequired)}, ReqEmail, "", Requirements{}, nil, ErrNoChange},
		{"unknown requirement", held(req(Pending, NotRequired, NotRequired)), "other", "", Requirements{}, nil, ErrNoChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Complete(tc.r, tc.n, "customer", t0)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if c.Next.Status != tc.status || c.Next.Requirements != tc.reqs || c.Next.Version != tc.r.Version+1 {
				t.Errorf("status %s reqs %+v version %d, want %s %+v %d", c.Next.Status, c.Next.Requirements, c.Next.Version, tc.status, tc.reqs, tc.r.Version+1)
			}
			if diff := cmp.Diff(tc.events, c.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if c.Next.Status == StatusCleared && (c.Next.Decision != screening.Accept || !c.Next.HoldUntil.IsZero()) {
				t.Errorf("cleared with decision %s, hold until %v", c.Next.Decision, c.Next.HoldUntil)
			}
		})
	}
}

// TestClearsOnce: whatever order the requirements complete in, exactly one
// change clears the order, and no later change applies.
func TestClearsOnce(t *testing.T) {
	t.Parallel()
	orders := [][]ReqName{
		{ReqEmail, ReqKYC, ReqReview}, {ReqEmail, ReqReview, ReqKYC}, {ReqKYC, ReqEmail, ReqReview},
		{ReqKYC, ReqReview, ReqEmail}, {ReqReview, ReqEmail, ReqKYC}, {ReqReview, ReqKYC, ReqEmail},
	}
	for _, seq := range orders {
		r := held(req(Pending, Pending, Pending))
		cleared := 0
		for _, n := range seq {
			var c Change
			var err error
			if n == ReqReview {
				c, err = Reviewed(r, ManualReview{Decision: screening.Accept, Reason: "ok"}, "ann", t0)
			} else {
				c, err = Complete(r, n, "customer", t0)
			}
			if err != nil {
				t.Fatalf("%v: %s: %v", seq, n, err)
			}
			for _, e := range c.Events {
				if e == events.OrderCleared {
					cleared++
				}
			}
			r = c.Next
		}
		if cleared != 1 || r.Status != StatusCleared {
			t.Errorf("%v: %d order.cleared, status %s; want 1, cleared", seq, cleared, r.Status)
		}
		for _, n := range []ReqName{ReqEmail, ReqKYC} {
			if _, err := Complete(r, n, "customer", t0); !errors.Is(err, ErrNoChange) {
				t.Errorf("%v: completing %s after clearing: %v, want ErrNoChange", seq, n, err)
			}
		}
		if _, err := Expired(r, t0.Add(time.Hour*24)); !errors.Is(err, ErrNoChange) {
			t.Errorf("%v: expiring a cleared order: %v, want ErrNoChange", seq, err)
		}
	}
}

// TestReviewed: accept clears only with nothing else pending; reject
// rejects and drops the other requirements; an order not held for review
// is a conflict.
func TestReviewed(t *testing.T) {
	t.Parallel()
	accept := ManualReview{Decision: screening.Accept, Reason: "looks fine"}
	reject := ManualReview{Decision: screening.Reject, Reason: "stolen card"}
	tests := []struct {
		name   string
		r      Record
		rv     ManualReview
		status Status
		reqs   Requirements
		events []string
		err    error
	}{
		{"accept, nothing else", held(req(NotRequired, NotRequired, Pending)), accept, StatusCleared, req(NotRequired, NotRequired, Done), []string{events.OrderCleared}, nil},
		{"accept, email pending", held(req(Pending, NotRequired, Pending)), accept, StatusHeld, req(Pending, NotRequired, Done), nil, nil},
		{"reject", held(req(Pending, Pending, Pending)), reject, StatusRejected, req(NotRequired, NotRequired, Done), []string{events.OrderRejected}, nil},
		{"reject, email done", held(req(Done, Pending, Pending)), reject, StatusRejected, req(Done, NotRequired, Done), []string{events.OrderRejected}, nil},
		{"twice", held(req(Pending, NotRequired, Done)), accept, "", Requirements{}, nil, screening.ErrConflict},
		{"no review", held(req(Pending, NotRequired, NotRequired)), accept, "", Requirements{}, nil, screening.ErrConflict},
		{"expired", Record{Status: StatusExpired, Requirements: req(Pending, NotRequired, Pending)}, accept, "", Requirements{}, nil, screening.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Reviewed(tc.r, tc.rv, "ann", t0)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if c.Next.Status != tc.status || c.Next.Requirements != tc.reqs {
				t.Errorf("status %s reqs %+v, want %s %+v", c.Next.Status, c.Next.Requirements, tc.status, tc.reqs)
			}
			if diff := cmp.Diff(tc.events, c.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if last := c.Next.Reasons[len(c.Next.Reasons)-1]; last.Detail != "Reviewed by ann: "+tc.rv.Reason {
				t.Errorf("reason %+v", last)
			}
			if c.Entry.Actor != "officer:ann" {
				t.Errorf("actor %q", c.Entry.Actor)
			}
		})
	}
}

// TestExpired: only a held order past its deadline expires.
func TestExpired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Record
		now  time.Time
		ok   bool
	}{
		{"past deadline", held(req(Pending, NotRequired, NotRequired)), t0.Add(time.Hour), true},
		{"before deadline", held(req(Pending, NotRequired, NotRequired)), t0.Add(time.Hour - time.Second), false},
		{"cleared", Record{Status: StatusCleared}, t0.Add(48 * time.Hour), false},
		{"rejected", Record{Status: StatusRejected}, t0.Add(48 * time.Hour), false},
		{"expired", Record{Status: StatusExpired}, t0.Add(48 * time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Expired(tc.r, tc.now)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrNoChange) {
					t.Errorf("err = %v, want ErrNoChange", err)
				}
				return
			}
			if c.Next.Status != StatusExpired || !cmp.Equal(c.Events, []string{events.OrderExpired}) {
				t.Errorf("status %s events %v", c.Next.Status, c.Events)
			}
		})
	}
}

// TestReported: once-only events apply once, payment_failed every time;
// the status never changes.
func TestReported(t *testing.T) {
	t.Parallel()
	for _, typ := range []EventType{EventRefund, EventChargeback, EventFraudConfirmed, EventCancelled, EventPaymentFailed} {
		r := held(req(Pending, NotRequired, NotRequired))
		c, err := Reported(r, Event{Type: typ}, "", "key:shop", t0)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if c.Next.Status != StatusHeld || !cmp.Equal(c.Events, []string{"order." + string(typ)}) {
			t.Errorf("%s: status %s events %v", typ, c.Next.Status, c.Events)
		}
		_, err = Reported(c.Next, Event{Type: typ}, "", "key:shop", t0)
		if once := typ != EventPaymentFailed; once != errors.Is(err, ErrNoChange) {
			t.Errorf("%s again: err %v, want no change %v", typ, err, once)
		}
	}
}

// TestAnswerLinks: links are shown only while the order is held.
func TestAnswerLinks(t *testing.T) {
	t.Parallel()
	r := held(req(Pending, NotRequired, NotRequired))
	r.Links = map[string]string{"verify_email": "https://shop.example/_gateway/verify-email?token=x"}
	if got := r.Answer().Links; len(got) != 1 {
		t.Errorf("held links %v", got)
	}
	r.Status = StatusCleared
	if got := r.Answer().Links; len(got) != 0 || got == nil {
		t.Errorf("cleared links %v, want empty, not null", got)
	}
}
