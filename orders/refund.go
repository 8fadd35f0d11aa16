package orders

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
)

// orderFacts keeps on r what refund eligibility needs of order o.
func orderFacts(r *Record, o screening.Order) {
	r.Amount, r.Currency = string(o.Amount), o.Currency
	if t, err := time.Parse(time.RFC3339Nano, o.PaidAt); err == nil {
		r.PaidAt = t.UTC()
	}
	for _, it := range o.Items {
		if it.Category != "" && !slices.Contains(r.Categories, it.Category) {
			r.Categories = append(r.Categories, it.Category)
		}
	}
}

// paidAt reads a payment time ("" is none): RFC 3339, not in the future.
func paidAt(field, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &screening.FieldError{Field: field, Problem: "not an RFC 3339 time like 2026-03-01T12:00:00Z"}
	}
	if t.After(now) {
		return time.Time{}, &screening.FieldError{Field: field, Problem: "is in the future"}
	}
	return t.UTC(), nil
}

// validateEventFacts checks the fields of an event that only some types
// carry: paid_at (paid, required) and amount (refund, optional).
func validateEventFacts(e Event) error {
	switch {
	case e.Type == EventPaid && e.PaidAt == "":
		return &screening.FieldError{Field: "paid_at", Problem: "required for a paid event"}
	case e.Type != EventPaid && e.PaidAt != "":
		return &screening.FieldError{Field: "paid_at", Problem: "only for a paid event"}
	case e.Type != EventRefund && e.Amount != "":
		return &screening.FieldError{Field: "amount", Problem: "only for a refund event"}
	}
	if e.PaidAt != "" {
		if _, err := time.Parse(time.RFC3339Nano, e.PaidAt); err != nil {
			return &screening.FieldError{Field: "paid_at", Problem: "not an RFC 3339 time like 2026-03-01T12:00:00Z"}
		}
	}
	if e.Amount != "" && !validAmount(e.Amount) {
		return &screening.FieldError{Field: "amount", Problem: `must be a non-negative decimal like "12.50"`}
	}
	return nil
}

// validAmount: digits, and at most four decimals after a point.
func validAmount(s string) bool {
	i, f, point := strings.Cut(s, ".")
	ok := func(d string, most int) bool {
		if d == "" || len(d) > most {
			return false
		}
		_, err := strconv.ParseUint(d, 10, 64)
		return err == nil && !strings.ContainsAny(d, "+-")
	}
	return ok(i, 12) && (!point || ok(f, 4))
}

// standingEffects is what an event does to the account's standing, before
// the event's commit (idempotent by order: a retry changes nothing): a
// refund is counted, a chargeback restricts the account and flags its
// orders for termination. An order without an account id has no standing.
func (s *Service) standingEffects(ctx context.Context, r Record, e Event, actor string, now time.Time) ([]string, error) {
	if r.AccountID == "" {
		return nil, nil
	}
	switch e.Type {
	case EventRefund:
		if err := s.countRefund(ctx, r, e.Amount, actor, now); err != nil {
			return nil, err
		}
		return []string{"refund counted in the account's standing"}, nil
	case EventChargeback:
		did, err := s.chargedBack(ctx, r, actor, now)
		if err != nil {
			return nil, err
		}
		return []string{did}, nil
	}
	return nil, nil
}

// RefundEligibility answers whether a refund of the order a names by id,
// for req, is within the terms (refunds.Decide on the order's facts and
// its account's standing), and appends the question and the answer to the
// audit log (actor asked). A bad request is a *FieldError; an order stored
// without an amount is an error wrapping refunds.ErrNoOrderFacts.
func (s *Service) RefundEligibility(ctx context.Context, a Access, id string, req refunds.Request, actor string) (refunds.Answer, error) {
	now := s.now()
	if err := req.Check(now); err != nil {
		return refunds.Answer{}, err
	}
	r, err := s.find(ctx, a, id)
	if err != nil {
		return refunds.Answer{}, err
	}
	var st Standing
	ref := ""
	if r.AccountID != "" {
		ref = accountRef(r.Owner, r.AccountID)
		fields, err := s.rdb.HGetAll(ctx, s.accountKey(ref)).Result()
		if err != nil {
			return refunds.Answer{}, unavailable("reading account "+ref, err)
		}
		if st, err = standingOf(fields); err != nil {
			return refunds.Answer{}, fmt.Errorf("decoding account %s: %w", ref, err)
		}
	}
	o := refunds.Order{Status: string(r.Status), PaidAt: r.PaidAt, CreatedAt: r.CreatedAt, Amount: r.Amount, Currency: r.Currency,
		Categories: r.Categories, Refunded: slices.Contains(r.Seen, string(EventRefund)), ChargedBack: slices.Contains(r.Seen, string(EventChargeback))}
	rs := refunds.Standing{Refunds: len(st.Refunds), Chargebacks: len(st.Chargebacks)}
	if st.Restriction != nil {
		rs.Restricted, rs.RestrictedReason = true, st.Restriction.Reason
	}
	for _, f := range st.Flags {
		rs.Flags = append(rs.Flags, refunds.Flag{Kind: f.Kind, Reason: f.Reason})
	}
	for _, m := range st.Refunds {
		o.Refunded = o.Refunded || m.ScreeningID == r.ScreeningID
	}
	ans, err := refunds.Decide(s.refunds, o, rs, req, now)
	if err != nil {
		return refunds.Answer{}, fmt.Errorf("order %s: %w", r.ScreeningID, err)
	}
	q, _ := json.Marshal(req)
	after, _ := json.Marshal(ans)
	// Each question is its own entry: a random id, fixed before the
	// relay's redeliveries.
	e := AuditEntry{ID: "refund-eligibility/" + r.ScreeningID + "/" + rand.Text(), Time: now.UTC(),
		Actor: actor, Action: "order.refund_eligibility", Order: r.ScreeningID, Account: ref, Before: q, After: after}
	fields, err := workFields([]pending{{kindAudit, e}})
	if err != nil {
		return refunds.Answer{}, fmt.Errorf("order %s: %w", r.ScreeningID, err)
	}
	add := &redis.XAddArgs{Stream: s.pendingKey(shardOf(r.ScreeningID)), Values: fields}
	if err := s.rdb.XAdd(ctx, add).Err(); err != nil {
		return refunds.Answer{}, unavailable("auditing the refund eligibility of order "+r.ScreeningID, err)
	}
	return ans, nil
}
