package orders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/strictjson"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
)

// Effects is what a storefront event does beyond the order record.
type Effects interface {
	// Apply acts on event e of order r and says what it did (for the
	// timeline), and which further events to publish.
	Apply(ctx context.Context, r Record, e Event, now time.Time) (did []string, more []string, err error)
}

// EventRecorder counts payment events per account (velocity's *Counter).
type EventRecorder interface {
	RecordEvent(ctx context.Context, now time.Time, kind velocity.EventKind, account, orderID string) (velocity.Counts, error)
}

// BlocklistAdder adds blocklist entries (blocklist's *List).
type BlocklistAdder interface {
	Add(ctx context.Context, e blocklist.Entry) (blocklist.Entry, error)
}

// MinFraudReporter reports transactions to MaxMind (minfraud's *Client).
type MinFraudReporter interface {
	Report(ctx context.Context, r minfraud.ReportRequest) error
}

// ScoringEffects are the scoring side of storefront events:
//
//   - payment_failed, refund, chargeback feed the account's velocity
//     counters (when the order had an account id);
//   - chargeback blocklists the order's account and card (the account's
//     restriction and account.restricted are the orders service's, see
//     standing.go);
//   - chargeback and fraud_confirmed are reported to minFraud's Report
//     Transactions API, best effort: a failure is logged and noted on the
//     timeline, and does not fail the event.
type ScoringEffects struct {
	Velocity  EventRecorder  // required
	Blocklist BlocklistAdder // required
	MinFraud  MinFraudReporter
	Logger    *slog.Logger
}

// Apply implements Effects. A Redis failure is an error, so the
// storefront's retry does it again (counting and blocklisting are keyed by
// the order: a retry changes nothing twice).
func (f ScoringEffects) Apply(ctx context.Context, r Record, e Event, now time.Time) ([]string, []string, error) {
	var did, more []string
	sid := r.ScreeningID
	if kind, counted := velocityKind(e.Type); counted && r.AccountID != "" {
		if _, err := f.Velocity.RecordEvent(ctx, now, kind, r.AccountID, sid); err != nil {
			return nil, nil, unavailable("counting "+string(e.Type)+" of order "+sid, err)
		}
		did = append(did, "counted on the account")
	}
	if e.Type == EventChargeback {
		restricted, err := f.restrict(ctx, r, now)
		if err != nil {
			return nil, nil, err
		}
		did = append(did, restricted...)
	}
	if tag := reportTag(e.Type); tag != "" && f.MinFraud != nil {
		did = append(did, f.report(ctx, sid, tag, e.Reason, r.Private))
	}
	return did, more, nil
}

func (f ScoringEffects) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// restrict blocklists the account and card of a charged-back order. An
// identifier the blocklist refuses as invalid is logged and skipped
// (retrying would not help).
func (f ScoringEffects) restrict(ctx context.Context, r Record, now time.Time) ([]string, error) {
	var did []string
	id := r.ScreeningID
	reason := "chargeback on order " + r.OrderID + " (" + id + ")"
	add := func(kind blocklist.Kind, value, what string) error {
		_, err := f.Blocklist.Add(ctx, blocklist.Entry{Kind: kind, Value: value, Reason: reason, AddedBy: "chargeback event", AddedAt: now})
		switch {
		case err == nil:
			did = append(did, what+" blocklisted")
		case errors.Is(err, blocklist.ErrInvalidInput):
			f.logger().LogAttrs(ctx, slog.LevelError, "cannot blocklist after chargeback",
				slog.String("screening_id", id), slog.String("kind", string(kind)), slog.String("error", err.Error()))
			did = append(did, what+" could not be blocklisted")
		default:
			return unavailable("blocklisting the "+what+" of order "+id, err)
		}
		return nil
	}
	if r.AccountID != "" {
		if err := add(blocklist.KindAccount, r.AccountID, "account"); err != nil {
			return nil, err
		}
	}
	if r.Private.CardBIN != "" && r.Private.CardLast4 != "" {
		if err := add(blocklist.KindCard, r.Private.CardBIN+":"+r.Private.CardLast4, "card"); err != nil {
			return nil, err
		}
	}
	return did, nil
}

// report sends a Report Transactions call and says how it went.
func (f ScoringEffects) report(ctx context.Context, id, tag, reason string, priv Private) string {
	rr := minfraud.ReportRequest{Tag: tag, TransactionID: id, MinFraudID: priv.MinFraudID, Notes: reason}
	if ip, err := netip.ParseAddr(priv.IP); err == nil {
		rr.IPAddress = ip
	}
	if err := f.MinFraud.Report(ctx, rr); err != nil {
		f.logger().LogAttrs(ctx, slog.LevelError, "minfraud report failed, report it by hand",
			slog.String("screening_id", id), slog.String("tag", tag), slog.String("error", err.Error()))
		return "minFraud report (" + tag + ") failed"
	}
	return "reported to minFraud as " + tag
}

// RecordEvent records an event the storefront reports on an order: its
// effects (Effects), then one commit with the timeline line, order.<type>
// (and account.restricted after a chargeback) and the audit entry.
// refund, chargeback, fraud_confirmed and cancelled are recorded once per
// order: repeating one returns the current answer with no further effect.
// The effects are at least once (a retry after a failed commit does them
// again; they are keyed by the order), the events exactly once per
// committed change.
func (s *Service) RecordEvent(ctx context.Context, a Access, id string, e Event) (Result, error) {
	if err := validateEvent(e); err != nil {
		return Result{}, err
	}
	r, err := s.find(ctx, a, id)
	if err != nil {
		return Result{}, err
	}
	if _, err := Reported(r, e, "", "", s.now()); errors.Is(err, ErrNoChange) {
		return r.Answer(), nil
	}
	now := s.now()
	paid, err := paidAt("paid_at", e.PaidAt, now)
	if err != nil {
		return Result{}, err
	}
	did, more, err := s.effects.Apply(ctx, r, e, now)
	if err != nil {
		return Result{}, err
	}
	actor := "storefront"
	if a.Officer {
		actor = "officer"
	} else if a.Owner != "" {
		actor = string(a.Owner)
	}
	standing, err := s.standingEffects(ctx, r, e, actor, now)
	if err != nil {
		return Result{}, err
	}
	did = append(did, standing...)
	c, err := s.apply(ctx, r, "order."+string(e.Type), func(r Record) (Change, []pending, error) {
		c, err := Reported(r, e, strings.Join(did, "; "), actor, now)
		c.Events = append(c.Events, more...)
		if e.Type == EventPaid {
			c.Next.PaidAt = paid
		}
		return c, nil, err
	})
	if errors.Is(err, ErrNoChange) {
		// A concurrent delivery of the same once-only event won.
		return s.Get(ctx, a, id)
	}
	if err != nil {
		return Result{}, err
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "order event recorded",
		slog.String("screening_id", r.ScreeningID), slog.String("type", string(e.Type)))
	return c.Next.Answer(), nil
}

func velocityKind(t EventType) (velocity.EventKind, bool) {
	switch t {
	case EventPaymentFailed:
		return velocity.EventPaymentFailed, true
	case EventRefund:
		return velocity.EventRefund, true
	case EventChargeback:
		return velocity.EventChargeback, true
	}
	return "", false
}

func reportTag(t EventType) string {
	switch t {
	case EventChargeback:
		return minfraud.TagChargeback
	case EventFraudConfirmed:
		return minfraud.TagSuspectedFraud
	}
	return ""
}

// Bounds of free text.
const (
	maxEventReason  = 512
	maxReviewReason = 512
)

func validateEvent(e Event) error {
	switch e.Type {
	case EventPaymentFailed, EventRefund, EventChargeback, EventFraudConfirmed, EventCancelled, EventPaid:
	case "":
		return &screening.FieldError{Field: "type", Problem: "required"}
	default:
		return &screening.FieldError{Field: "type", Problem: "must be payment_failed, refund, chargeback, fraud_confirmed, cancelled or paid"}
	}
	if err := validateEventFacts(e); err != nil {
		return err
	}
	return checkText("reason", e.Reason, maxEventReason)
}

// validateReview checks rv and trims its reason.
func validateReview(rv *ManualReview) error {
	switch rv.Decision {
	case screening.Accept, screening.Reject:
	case "":
		return &screening.FieldError{Field: "decision", Problem: "required"}
	default:
		return &screening.FieldError{Field: "decision", Problem: "must be accept or reject"}
	}
	rv.Reason = strings.TrimSpace(rv.Reason)
	if rv.Reason == "" {
		return &screening.FieldError{Field: "reason", Problem: "required"}
	}
	return checkText("reason", rv.Reason, maxReviewReason)
}

// checkText refuses text over max characters, invalid UTF-8 and control
// characters (they would forge lines in logs and the timeline).
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return &screening.FieldError{Field: field, Problem: "not valid UTF-8"}
	}
	if utf8.RuneCountInString(s) > max {
		return &screening.FieldError{Field: field, Problem: fmt.Sprintf("longer than %d characters", max)}
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return &screening.FieldError{Field: field, Problem: "contains control characters"}
		}
	}
	return nil
}

// DecodeEvent reads the body of POST /api/v1/orders/{id}/events: one JSON
// object {"type": ..., "reason": ...}, strict.
func DecodeEvent(r io.Reader) (Event, error) {
	var e Event
	if err := decodeObject(r, "event", &e); err != nil {
		return Event{}, err
	}
	if err := validateEvent(e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeReview reads the body of POST /api/v1/orders/{id}/review: one JSON
// object {"decision": "accept"|"reject", "reason": ...}, strict.
func DecodeReview(r io.Reader) (ManualReview, error) {
	var rv ManualReview
	if err := decodeObject(r, "review", &rv); err != nil {
		return ManualReview{}, err
	}
	if err := validateReview(&rv); err != nil {
		return ManualReview{}, err
	}
	return rv, nil
}

// decodeObject reads one small JSON object into v: at most
// screening.MaxOrderBytes, no unknown fields, nothing after it.
func decodeObject(r io.Reader, what string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, screening.MaxOrderBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > screening.MaxOrderBytes {
		return fmt.Errorf("%s body over %d bytes: %w", what, screening.MaxOrderBytes, screening.ErrTooLarge)
	}
	if err := strictjson.Unmarshal(data, v); err != nil {
		if se, ok := errors.AsType[*strictjson.Error](err); ok && se.Field != "" {
			return &screening.FieldError{Field: se.Field, Problem: se.Problem}
		}
		return fmt.Errorf("decoding %s: %w: %w", what, screening.ErrInvalidInput, err)
	}
	return nil
}
