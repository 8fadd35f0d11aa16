package orders

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

// Status is where an order stands.
type Status string

// Order statuses (PRODUCT.md §4 "Holds and clearing"). held is the only
// status that changes; the three others are final.
const (
	StatusHeld     Status = "held"
	StatusCleared  Status = "cleared"
	StatusRejected Status = "rejected"
	StatusExpired  Status = "expired"
)

// Requirement is the state of one thing a held order waits for.
type Requirement string

// Requirement states.
const (
	Pending     Requirement = "pending"
	Done        Requirement = "done"
	NotRequired Requirement = "not_required"
)

// Requirements lists what a held order waits for.
type Requirements struct {
	EmailVerification Requirement `json:"email_verification"`
	KYC               Requirement `json:"kyc"`
	ManualReview      Requirement `json:"manual_review"`
}

// ReqName names one requirement (the field of Requirements).
type ReqName string

// Requirement names.
const (
	ReqEmail  ReqName = "email_verification"
	ReqKYC    ReqName = "kyc"
	ReqReview ReqName = "manual_review"
)

func (r *Requirements) get(n ReqName) *Requirement {
	switch n {
	case ReqEmail:
		return &r.EmailVerification
	case ReqKYC:
		return &r.KYC
	case ReqReview:
		return &r.ManualReview
	}
	return nil
}

func (r Requirements) anyPending() bool {
	return r.EmailVerification == Pending || r.KYC == Pending || r.ManualReview == Pending
}

// Record is the stored state of an order: what the lifecycle needs, under a
// version that every change increments (the compare-and-set of the one
// commit path). It is not the API answer (Result, see Answer): private data
// and bookkeeping stay here.
type Record struct {
	Version      int64              `json:"version"`
	ScreeningID  string             `json:"screening_id"`
	OrderID      string             `json:"order_id"`
	Owner        Owner              `json:"owner"`
	Status       Status             `json:"status"`
	Decision     screening.Outcome  `json:"decision"`
	Score        int                `json:"score"`
	Reasons      []screening.Reason `json:"reasons"`
	Requirements Requirements       `json:"requirements"`
	Links        map[string]string  `json:"links,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
	// HoldUntil is when a held order expires.
	HoldUntil time.Time `json:"hold_until,omitzero"`
	// AccountID is the storefront's account id ("" when the order had
	// none: then its email address stands for the account, see
	// accountRef).
	AccountID string `json:"account_id,omitempty"`
	// EmailHash is the keyed hash of the order's email: EmailVerified
	// completes only orders of the verified address, and the record keeps
	// no address in clear.
	EmailHash string `json:"email_hash,omitempty"`
	// Seen lists the once-only storefront events already recorded.
	Seen []string `json:"seen,omitempty"`
	// Private is what later events need (minFraud report, blocklisting
	// after a chargeback).
	Private Private `json:"private"`
	// What refund eligibility needs (issue 11; records stored before
	// have none: eligibility is then decided by hand). PaidAt is zero
	// until the storefront reports it (order body or paid event).
	PaidAt     time.Time `json:"paid_at,omitzero"`
	Amount     string    `json:"amount,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	Categories []string  `json:"categories,omitempty"`
	// Termination is set when the account charged back (standing.go).
	Termination *Termination `json:"termination,omitempty"`
	// ShopLink is the shop's own order an intercepted checkout was
	// linked to (link.go); nil until then.
	ShopLink *ShopLink `json:"shop_link,omitempty"`
}

// accountRef is the reference of the account r belongs to (see refOf).
func (r Record) accountRef() string { return refOf(r.Owner, r.AccountID, r.EmailHash) }

// Private is the personal data an order record keeps, and only what a later
// event needs: the card BIN/last4 to blocklist after a chargeback, the IP
// and minFraud id for MaxMind's Report Transactions.
type Private struct {
	CardBIN    string `json:"card_bin,omitempty"`
	CardLast4  string `json:"card_last4,omitempty"`
	IP         string `json:"ip"`
	MinFraudID string `json:"minfraud_id,omitempty"`
}

// Result is the answer of POST /api/v1/orders and GET /api/v1/orders/{id}.
type Result struct {
	// ScreeningID is the gateway's id of the order, unique across owners
	// (see Owner).
	ScreeningID string `json:"screening_id"`
	// OrderID is the id the owner gave; unique only within its owner.
	OrderID      string             `json:"order_id"`
	Owner        Owner              `json:"owner"`
	Status       Status             `json:"status"`
	Decision     screening.Outcome  `json:"decision"`
	Score        int                `json:"score"`
	Reasons      []screening.Reason `json:"reasons"`
	Requirements Requirements       `json:"requirements"`
	Links        map[string]string  `json:"links"`
	CreatedAt    time.Time          `json:"created_at"`
	// PaidAt is when the order was paid, once the storefront said so.
	PaidAt time.Time `json:"paid_at,omitzero"`
	// Termination is set when the order is flagged for termination (its
	// account charged back).
	Termination *Termination `json:"termination,omitempty"`
}

// Answer is the API's view of r.
func (r Record) Answer() Result {
	res := Result{
		ScreeningID: r.ScreeningID, OrderID: r.OrderID, Owner: r.Owner, Status: r.Status,
		Decision: r.Decision, Score: r.Score, Reasons: r.Reasons, Requirements: r.Requirements,
		Links: maps.Clone(r.Links), CreatedAt: r.CreatedAt, PaidAt: r.PaidAt, Termination: r.Termination,
	}
	if res.Reasons == nil {
		res.Reasons = []screening.Reason{}
	}
	if res.Links == nil || r.Status != StatusHeld {
		// Links are for a customer who still has something to do.
		res.Links = map[string]string{}
	}
	return res
}

// Change is one state change: the record after it, the events it
// publishes, and its timeline line. Transition functions return it; the
// commit path stores it atomically.
type Change struct {
	Next   Record
	Events []string // event types, published with Next's EventData as data
	Entry  TimelineEntry
	// answer is json.Marshal(Next.Answer()) when the caller encoded it
	// already (create, which replies with it); nil: commit encodes it.
	answer []byte
}

// TimelineEntry is one line of an order's history.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	// Type is "screened" for the screening itself, "reviewed",
	// "requirement_done", "expired", or a storefront EventType.
	Type    string `json:"type"`
	Reason  string `json:"reason,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Actor   string `json:"actor,omitempty"`
	Version int64  `json:"version"`
}

// ErrNoChange is returned by a transition that does not apply to the
// record as it is (a requirement already done, an order no longer held):
// nothing is committed.
var ErrNoChange = errors.New("no change")

// Needs says which holds a new order gets (Policy decides them).
type Needs struct {
	Email bool
	KYC   bool
}

// Created is the record of a new order and its creation change: rejected
// when screening rejected it, else held with the requirements of needs
// (manual review when screening said review), or cleared at once when
// nothing is required. The creation event is order.held,
// order.rejected or order.cleared.
func Created(r Record, d screening.Decision, needs Needs, now time.Time, holdFor time.Duration) Change {
	r.Version = 1
	r.Decision = d.Outcome
	r.Score = d.Score
	r.Reasons = d.Reasons
	r.CreatedAt, r.UpdatedAt = now.UTC(), now.UTC()
	notReq := Requirements{EmailVerification: NotRequired, KYC: NotRequired, ManualReview: NotRequired}
	r.Requirements = notReq
	if d.Outcome == screening.Reject {
		r.Status = StatusRejected
		r.Links = nil
		return Change{Next: r, Events: []string{events.OrderRejected},
			Entry: entry(now, "screened", "", screenedDetail(d, StatusRejected), "system")}
	}
	if needs.Email {
		r.Requirements.EmailVerification = Pending
	}
	if needs.KYC {
		r.Requirements.KYC = Pending
	}
	if d.Outcome == screening.Review {
		r.Requirements.ManualReview = Pending
	}
	r.Status = StatusHeld
	r.HoldUntil = now.UTC().Add(holdFor)
	ev := events.OrderHeld
	if !r.Requirements.anyPending() {
		r.Status, r.HoldUntil, ev = StatusCleared, time.Time{}, events.OrderCleared
	}
	return Change{Next: r, Events: []string{ev},
		Entry: entry(now, "screened", "", screenedDetail(d, r.Status), "system")}
}

// screenedDetail is the detail of a new order's timeline line: "decision
// reject, score 99, status rejected". Concatenated rather than formatted:
// it is written for every order.
func screenedDetail(d screening.Decision, st Status) string {
	return "decision " + string(d.Outcome) + ", score " + strconv.Itoa(d.Score) + ", status " + string(st)
}

// Complete marks requirement n of a held order done and clears the order
// when it was the last one pending: the clearing happens in exactly the
// change that completes the last requirement, and a cleared order is
// never held again, so with the version check of the commit path an order
// is cleared once whichever events race. ErrNoChange when n is not
// pending or the order is not held.
func Complete(r Record, n ReqName, actor string, now time.Time) (Change, error) {
	if r.Status != StatusHeld {
		return Change{}, fmt.Errorf("order %s is %s: %w", r.ScreeningID, r.Status, ErrNoChange)
	}
	next := bump(r, now)
	req := next.Requirements.get(n)
	if req == nil || *req != Pending {
		return Change{}, fmt.Errorf("order %s: %s is not pending: %w", r.ScreeningID, n, ErrNoChange)
	}
	*req = Done
	c := Change{Next: next, Entry: entry(now, "requirement_done", "", string(n)+" done", actor)}
	settle(&c)
	return c, nil
}

// settle clears a held order with nothing pending.
func settle(c *Change) {
	if c.Next.Status == StatusHeld && !c.Next.Requirements.anyPending() {
		c.Next.Status = StatusCleared
		c.Next.Decision = screening.Accept
		c.Next.HoldUntil = time.Time{}
		c.Events = append(c.Events, events.OrderCleared)
		c.Entry.Detail += ", cleared"
	}
}

// ManualReview is the body of POST /api/v1/orders/{id}/review: an officer's
// decision on an order held for manual review.
type ManualReview struct {
	// Decision is accept or reject.
	Decision screening.Outcome `json:"decision"`
	// Reason is why, for the audit trail (1 to maxReviewReason
	// characters, trimmed).
	Reason string `json:"reason"`
}

// Reason codes a review appends to an order's reasons.
const (
	codeReviewAccepted = "manual_review_accepted"
	codeReviewRejected = "manual_review_rejected"
)

// ErrNotReviewable wraps screening.ErrConflict: the order is not held for
// manual review (reviewed already, or final).
var errNotReviewable = screening.ErrConflict

// Reviewed is the change of an officer's review: manual_review done and a
// reason appended. A reject rejects the order (every other pending
// requirement becomes not_required, order.rejected); an accept clears it
// when nothing else is pending (order.cleared), else it stays held.
func Reviewed(r Record, rv ManualReview, officer string, now time.Time) (Change, error) {
	if r.Status != StatusHeld {
		return Change{}, fmt.Errorf("order %s is %s: %w", r.OrderID, r.Status, errNotReviewable)
	}
	if r.Requirements.ManualReview != Pending {
		return Change{}, fmt.Errorf("order %s has no manual review pending: %w", r.OrderID, errNotReviewable)
	}
	next := bump(r, now)
	next.Requirements.ManualReview = Done
	code := codeReviewAccepted
	if rv.Decision == screening.Reject {
		code = codeReviewRejected
	}
	next.Reasons = append(slices.Clone(r.Reasons), screening.Reason{Code: code, Detail: "Reviewed by " + officer + ": " + rv.Reason})
	c := Change{Next: next, Entry: entry(now, "reviewed", rv.Reason, fmt.Sprintf("%s by %s", rv.Decision, officer), "officer:"+officer)}
	if rv.Decision == screening.Reject {
		c.Next.Status = StatusRejected
		c.Next.Decision = screening.Reject
		c.Next.HoldUntil = time.Time{}
		for _, q := range []*Requirement{&c.Next.Requirements.EmailVerification, &c.Next.Requirements.KYC} {
			if *q == Pending {
				*q = NotRequired
			}
		}
		c.Events = []string{events.OrderRejected}
		c.Entry.Detail += ", rejected"
		return c, nil
	}
	c.Next.Decision = screening.Accept
	settle(&c)
	return c, nil
}

// Expired is the change of a hold that outlived its deadline: held ->
// expired, order.expired. ErrNoChange when the order is not held or its
// deadline is not reached.
func Expired(r Record, now time.Time) (Change, error) {
	if r.Status != StatusHeld || now.Before(r.HoldUntil) {
		return Change{}, fmt.Errorf("order %s is not a stale hold: %w", r.ScreeningID, ErrNoChange)
	}
	next := bump(r, now)
	next.Status = StatusExpired
	next.HoldUntil = time.Time{}
	return Change{Next: next, Events: []string{events.OrderExpired},
		Entry: entry(now, "expired", "", "hold expired: verification was not completed, the order is not activated and not refunded", "system")}, nil
}

// EventType is an event a storefront reports on an order.
type EventType string

// Order events (POST /api/v1/orders/{id}/events).
const (
	EventPaymentFailed  EventType = "payment_failed"
	EventRefund         EventType = "refund"
	EventChargeback     EventType = "chargeback"
	EventFraudConfirmed EventType = "fraud_confirmed"
	EventCancelled      EventType = "cancelled"
	// EventPaid reports when the order was paid (Event.PaidAt): refund
	// eligibility counts its window from then.
	EventPaid EventType = "paid"
)

// Event is the body of POST /api/v1/orders/{id}/events.
type Event struct {
	Type   EventType `json:"type"`
	Reason string    `json:"reason"`
	// PaidAt (RFC 3339) is required by, and only allowed on, paid.
	PaidAt string `json:"paid_at,omitempty"`
	// Amount is what a refund credited (a decimal like "12.50"), only on
	// refund; omitted: the order's amount.
	Amount string `json:"amount,omitempty"`
}

// once says whether an event type is recorded once per order.
func (t EventType) once() bool { return t != EventPaymentFailed }

// Reported is the change of a storefront event: a timeline line and
// order.<type>; did says what the gateway did about it. A once-only event
// already recorded is ErrNoChange. The status does not change: the
// statuses of PRODUCT.md have no "cancelled" or "charged back", the
// screening result stands.
func Reported(r Record, e Event, did, actor string, now time.Time) (Change, error) {
	if e.Type.once() && slices.Contains(r.Seen, string(e.Type)) {
		return Change{}, fmt.Errorf("order %s: %s already recorded: %w", r.ScreeningID, e.Type, ErrNoChange)
	}
	next := bump(r, now)
	if e.Type.once() {
		next.Seen = append(slices.Clone(r.Seen), string(e.Type))
	}
	return Change{Next: next, Events: []string{"order." + string(e.Type)},
		Entry: entry(now, string(e.Type), e.Reason, did, actor)}, nil
}

// bump is r at its next version.
func bump(r Record, now time.Time) Record {
	r.Version++
	r.UpdatedAt = now.UTC()
	return r
}

func entry(now time.Time, typ, reason, detail, actor string) TimelineEntry {
	return TimelineEntry{Time: now.UTC(), Type: typ, Reason: reason, Detail: detail, Actor: actor}
}
