package screening

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
)

// ManualReview is the body of POST /api/v1/orders/{id}/review: an officer's
// decision on an order held for manual review.
type ManualReview struct {
	// Decision is Accept or Reject.
	Decision Outcome `json:"decision"`
	// Reason is why, for the audit trail (1 to maxReviewReason characters,
	// trimmed).
	Reason string `json:"reason"`
}

// maxReviewReason bounds a review's reason.
const maxReviewReason = 512

// Reason codes a review appends to an order's reasons.
const (
	codeReviewAccepted = "manual_review_accepted"
	codeReviewRejected = "manual_review_rejected"
)

// reviewScript writes a review: it replaces the record's result (compare
// and set: only if the stored result is still ARGV[1], the one the review
// was decided on), appends the timeline entry and, when KEYS[3] (the outbox
// stream) is given, appends the event to it, in one step. It returns -1
// when the order does not exist, the stored result when it changed
// meanwhile, 1 when it wrote the review.
//
// KEYS: record, timeline[, stream]. ARGV: expected result, new result,
// timeline entry, timeline bound, then with a stream its max length (0:
// untrimmed) and the entry's field-value pairs (events.Outbox.Fields).
//
// XADD is the first write, as in createPublishScript: a failed call leaves
// nothing behind.
var reviewScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'result')
if not cur then return -1 end
if cur ~= ARGV[1] then return cur end
if #KEYS == 3 then
  local xadd = {'XADD', KEYS[3]}
  if ARGV[5] ~= '0' then
    xadd[3], xadd[4], xadd[5] = 'MAXLEN', '~', ARGV[5]
  end
  xadd[#xadd + 1] = '*'
  for i = 6, #ARGV do xadd[#xadd + 1] = ARGV[i] end
  redis.call(unpack(xadd))
end
redis.call('HSET', KEYS[1], 'result', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return 1
`)

// Review records an officer's manual review of an order and returns the
// order's new Result.
//
// Only a held order whose manual_review requirement is pending can be
// reviewed; any other is an error wrapping ErrConflict that says why
// (reviewing twice is one). An unknown id is an error wrapping ErrNotFound.
//
// The review marks manual_review done and appends a reason
// (manual_review_accepted or manual_review_rejected, "Reviewed by
// <officer>: <reason>"). A reject rejects the order: every other pending
// requirement becomes not_required and order.rejected is published. An
// accept sets the decision to accept and clears the order only when no
// requirement is still pending, publishing order.cleared; otherwise the
// order stays held with no event. Until the holds work lands, email
// verification is pending on every order that is not rejected, so an
// accepted order stays held: that is the contract (PRODUCT.md §4 "Holds
// and clearing"), not a bug. A "reviewed" entry naming the officer goes to
// the timeline either way.
//
// The write is a compare-and-set on the stored result: two concurrent
// reviews of one order cannot both succeed (the loser re-reads the order
// once, then gets ErrConflict). With an outbox a script can write (the
// condition Submit uses, see OrderDeps), the event is appended in the same
// script, so the review and its event happen together or not at all.
// Otherwise (Cluster) the event is appended after the review is stored;
// if that append fails the error wraps ErrUnavailable, but the review
// stands and its event is lost: a retry is refused as a conflict. The
// failure is logged so the event can be published by hand.
//
// A Redis failure is an error wrapping ErrUnavailable.
//
// a and id name the order as for Get (officers address any order).
func (s *Orders) Review(ctx context.Context, a Access, id string, rv ManualReview, officer string) (Result, error) {
	if err := validateReview(&rv); err != nil {
		return Result{}, err
	}
	sid, err := s.resolve(a, id)
	if err != nil {
		return Result{}, err
	}
	vals, err := s.rdb.HMGet(ctx, s.recordKey(sid), "result").Result()
	if err != nil {
		return Result{}, unavailable("reading order "+sid, err)
	}
	if _, err := visible(a, id, sid, vals[0]); err != nil {
		return Result{}, err
	}
	raw, _ := vals[0].(string)
	now := s.now()
	for attempt := 0; ; attempt++ {
		cur, err := decodeResult(sid, raw)
		if err != nil {
			return Result{}, err
		}
		if err := reviewable(cur); err != nil {
			s.m.events.WithLabelValues("review", "conflict").Inc()
			return Result{}, err
		}
		next := reviewed(cur, rv, officer)
		out, err := s.writeReview(ctx, sid, raw, next, rv, officer, now)
		if err != nil {
			return Result{}, err
		}
		switch out := out.(type) {
		case int64:
			if out == -1 {
				// The record expired between the read and now.
				return Result{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
			}
			if err := s.publishReview(ctx, next, now); err != nil {
				return Result{}, err
			}
			s.m.events.WithLabelValues("review", string(rv.Decision)).Inc()
			s.logger.LogAttrs(ctx, slog.LevelInfo, "order reviewed",
				slog.String("screening_id", sid), slog.String("decision", string(rv.Decision)),
				slog.String("officer", officer), slog.String("status", string(next.Status)))
			return next, nil
		case string:
			// The order changed since it was read: decide again on
			// the new version, once.
			if attempt > 0 {
				s.m.events.WithLabelValues("review", "conflict").Inc()
				return Result{}, fmt.Errorf("order %s changed during the review, try again: %w", sid, ErrConflict)
			}
			raw = out
		default:
			return Result{}, fmt.Errorf("reviewing order %s: unexpected script answer %T", id, out)
		}
	}
}

// writeReview runs reviewScript; the event goes in the script when the
// outbox allows it.
func (s *Orders) writeReview(ctx context.Context, sid, expected string, next Result, rv ManualReview, officer string, now time.Time) (any, error) {
	nextJSON, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encoding order %s: %w", sid, err)
	}
	entry, _ := json.Marshal(TimelineEntry{Time: now, Type: "reviewed", Reason: rv.Reason,
		Detail: fmt.Sprintf("%s by %s, status %s", rv.Decision, officer, next.Status)})
	keys := []string{s.recordKey(sid), s.timelineKey(sid)}
	args := []any{expected, nextJSON, entry, maxTimeline}
	if ev, ok := reviewEvent(next, nextJSON, now); ok && s.so != nil {
		fields, err := s.so.Fields(ev)
		if err != nil {
			return nil, fmt.Errorf("reviewing order %s: %w", sid, err)
		}
		keys = append(keys, s.so.Key())
		args = append(args, s.so.MaxLen())
		for _, f := range fields {
			args = append(args, f)
		}
	}
	out, err := reviewScript.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, unavailable("recording the review of order "+sid, err)
	}
	return out, nil
}

// publishReview appends the review's event when the script could not.
func (s *Orders) publishReview(ctx context.Context, next Result, now time.Time) error {
	if s.so != nil {
		return nil // appended by reviewScript
	}
	nextJSON, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encoding order %s: %w", next.ScreeningID, err)
	}
	ev, ok := reviewEvent(next, nextJSON, now)
	if !ok {
		return nil
	}
	if _, err := s.outbox.Append(ctx, ev); err != nil {
		// The review is stored; its event is not, and a retry would be
		// refused. Say so where someone can act on it.
		s.logger.LogAttrs(ctx, slog.LevelError, "review recorded but its event not published, publish it by hand",
			slog.String("order_id", next.ScreeningID), slog.String("type", ev.Type), slog.String("error", err.Error()))
		return unavailable("publishing "+ev.Type+" for order "+next.ScreeningID, err)
	}
	return nil
}

// reviewEvent is the event a review publishes, if any: order.rejected or
// order.cleared, with the new Result as its data.
func reviewEvent(next Result, nextJSON []byte, now time.Time) (events.Event, bool) {
	var typ string
	switch next.Status {
	case StatusRejected:
		typ = events.OrderRejected
	case StatusCleared:
		typ = events.OrderCleared
	default:
		return events.Event{}, false
	}
	return events.Event{Type: typ, Data: json.RawMessage(nextJSON), Time: now}, true
}

// reviewable says why an order cannot be reviewed, or nil.
func reviewable(res Result) error {
	if res.Status != StatusHeld {
		return fmt.Errorf("order %s is %s: %w", res.OrderID, res.Status, ErrConflict)
	}
	if res.Requirements.ManualReview != Pending {
		return fmt.Errorf("order %s has no manual review pending: %w", res.OrderID, ErrConflict)
	}
	return nil
}

// reviewed is res after the review rv.
func reviewed(res Result, rv ManualReview, officer string) Result {
	next := res
	next.Requirements.ManualReview = Done
	code := codeReviewAccepted
	if rv.Decision == Reject {
		code = codeReviewRejected
	}
	next.Reasons = append(slices.Clone(res.Reasons), Reason{Code: code, Detail: "Reviewed by " + officer + ": " + rv.Reason})
	if rv.Decision == Reject {
		next.Status = StatusRejected
		next.Decision = Reject
		for _, r := range []*Requirement{&next.Requirements.EmailVerification, &next.Requirements.KYC} {
			if *r == Pending {
				*r = NotRequired
			}
		}
		return next
	}
	next.Decision = Accept
	req := next.Requirements
	if req.EmailVerification != Pending && req.KYC != Pending && req.ManualReview != Pending {
		next.Status = StatusCleared
	}
	return next
}

// validateReview checks rv and trims its reason.
func validateReview(rv *ManualReview) error {
	switch rv.Decision {
	case Accept, Reject:
	case "":
		return fieldErr("decision", "required")
	default:
		return fieldErr("decision", "must be accept or reject")
	}
	rv.Reason = strings.TrimSpace(rv.Reason)
	if rv.Reason == "" {
		return fieldErr("reason", "required")
	}
	if utf8.RuneCountInString(rv.Reason) > maxReviewReason {
		return fieldErr("reason", fmt.Sprintf("longer than %d characters", maxReviewReason))
	}
	var v validator
	v.text("reason", rv.Reason, maxReviewReason)
	return v.err
}

// DecodeReview reads the body of POST /api/v1/orders/{id}/review: one JSON
// object {"decision": "accept"|"reject", "reason": ...}, strict as
// DecodeEvent. Problems are *FieldError values wrapping ErrInvalidInput.
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
