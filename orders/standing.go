package orders

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/rediserr"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
)

// An account's standing (issue 11) lives in the account's key (accountKey:
// the slot of its shard's pending stream), beside the verified and cleared
// marks, so a change and its event and audit entry are one script:
//
//	restricted          JSON Restriction (after a chargeback; an admin lifts it)
//	flag:<kind>         JSON Flag (an officer's abuse flag)
//	refund:<sid>        JSON Money (a refund the storefront reported)
//	refunds             how many refund:<sid> fields there are
//	chargeback:<sid>    JSON Money (a chargeback the storefront reported)
//	chargebacks         how many chargeback:<sid> fields there are
//	identity            the approving KYC case's id (identity.go)
//
// The account's orders are indexed, newest first and at most
// maxAccountOrders of them, in <account key>:orders (a sorted set by
// creation time, same slot), filled by the relay from each order's
// creation (kindAccount), so the standing lists orders and a
// chargeback reaches every order of the account.

// Standing fields of the account key.
const (
	fieldRestricted  = "restricted"
	fieldRefunds     = "refunds"
	fieldChargebacks = "chargebacks"
	prefixFlag       = "flag:"
	prefixRefund     = "refund:"
	prefixChargeback = "chargeback:"
)

// maxAccountOrders bounds an account's order index (the newest stay).
const maxAccountOrders = 1000

// Restriction is why an account's new orders are rejected.
type Restriction struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	By     string    `json:"by"`
	// Order is the screening id of the charged-back order.
	Order string `json:"order,omitempty"`
}

// Flag is an abuse flag an officer recorded on an account.
type Flag struct {
	Kind   refunds.FlagKind `json:"kind"`
	Reason string           `json:"reason"`
	By     string           `json:"by"`
	Time   time.Time        `json:"time"`
}

// Money is a refund or chargeback of one order of the account.
type Money struct {
	ScreeningID string    `json:"screening_id"`
	OrderID     string    `json:"order_id"`
	Date        time.Time `json:"date"`
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
}

// Termination marks an order to be terminated: the account charged back.
type Termination struct {
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Standing is the answer of GET /api/v1/accounts/{id}: everything the
// gateway knows of an account, in one answer.
type Standing struct {
	Owner   Owner  `json:"owner"`
	Account string `json:"account"`
	// Restriction is nil when the account is not restricted.
	Restriction *Restriction `json:"restriction"`
	Flags       []Flag       `json:"flags"`
	Refunds     []Money      `json:"refunds"`
	Chargebacks []Money      `json:"chargebacks"`
	// Orders are the account's orders with their states, newest first
	// (at most maxAccountOrders are indexed; orders stored before issue
	// 11 are not listed).
	Orders []Result `json:"orders"`
	// EmailVerified: the account verified at least one email address
	// (verification is per address).
	EmailVerified bool `json:"email_verified"`
	// Identity is "verified" once a KYC case of the account was
	// approved, else "not_verified" (cases under review are in
	// /api/v1/kyc/cases).
	Identity string `json:"identity"`
}

// accountOrdersKey indexes an account's orders (see above).
func (s *Service) accountOrdersKey(ref string) string { return s.accountKey(ref) + ":orders" }

// deliverAccounts is the relay's delivery of a batch's kindAccount
// entries, in one pipeline for the batch (one round trip, not one per
// order; one accountScript per entry): each order indexed under its
// account (the newest maxAccountOrders kept) and, when it cleared, the
// account marked as having a cleared order (firstorder.go); all
// idempotent, so an entry redelivered after a partial
// failure changes nothing twice. An order that was not rejected, of an
// account restricted meanwhile, is flagged for termination here: a
// chargeback flags the orders indexed when it arrives, and this one may
// have been committed but not yet indexed. It returns one error per entry
// (nil: delivered).
func (s *Service) deliverAccounts(ctx context.Context, ps []pendingAccount) []error {
	errs := make([]error, len(ps))
	if len(ps) == 0 {
		return errs
	}
	calls := make([]accountCall, len(ps))
	for i, p := range ps {
		ref := refOf(p.Owner, p.Account, p.EmailHash)
		mark := "1"
		if p.Rejected || p.Held {
			mark = ""
		}
		calls[i] = accountCall{
			keys: []string{s.accountKey(ref), s.accountOrdersKey(ref)},
			args: []any{fieldRestricted, mark, p.Order, p.Created.UnixMilli(), maxAccountOrders, s.retention.Milliseconds(), fieldCleared},
		}
	}
	cmds := s.runAccountCalls(ctx, calls)
	for i, p := range ps {
		restricted, err := cmds[i].Text()
		if err != nil {
			errs[i] = fmt.Errorf("recording order %s of account %s: %w", p.Order, refOf(p.Owner, p.Account, p.EmailHash), err)
			continue
		}
		if rs := restrictionOf(restricted); rs != nil && p.Order != "" && !p.Rejected {
			if _, err := s.terminate(ctx, p.Order, rs.Reason, s.now()); err != nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// accountScript is the relay's delivery of one account entry, in one
// step: the account's restriction read, the account marked as having a
// cleared order (an order that cleared), the order indexed under the
// account with only the newest kept. One script rather than six commands
// a pipeline carries: the same writes, a sixth of the commands to build,
// send and parse.
//
// KEYS: account, the account's order index (one slot: the account's
// shard tag). ARGV: the restriction field, "1" to mark the account,
// order ("": none, an entry from before issue 11), its score (unix ms),
// how many to keep, retention (ms), the mark's field. It returns the
// restriction ("" none).
var accountScript = redis.NewScript(`
local restricted = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[7], '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return restricted or ''
`)

type accountCall struct {
	keys []string
	args []any
}

// runAccountCalls runs accountScript once per call in one pipeline (one
// round trip); calls refused with NOSCRIPT (a restarted or flushed
// server: they ran nothing) go again with EVAL.
func (s *Service) runAccountCalls(ctx context.Context, calls []accountCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := s.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = accountScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read by the caller
	rediserr.EvalRefused(ctx, s.rdb, cmds, func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return accountScript.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
	})
	return cmds
}

// accountSetScript sets a standing field of an account once and, the first
// time only, counts it and appends its event and audit entries to the
// account's shard's pending stream, in one step. KEYS: account, pending
// stream. ARGV: field, value, counter field ("": none), retention (ms),
// then the field and value pairs of the pending entry (workFields; none:
// no entry). 1: set; 0: it was set already.
var accountSetScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[3], 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if #ARGV > 4 then redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5)) end
return 1
`)

// accountDelScript removes a standing field of an account if it still has
// the value the caller read, and appends its audit entry, in one step.
// KEYS: account, pending stream. ARGV: field, expected value, then the
// field and value pairs of the pending entry (workFields; none: no
// entry). 1: removed; 0: the value changed or is gone.
var accountDelScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if #ARGV > 2 then redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3)) end
return 1
`)

// accountAudit is the audit entry of a change of account ref's standing:
// its id is random, fixed before the relay's redeliveries.
func accountAudit(ref, action, detail, actor string, now time.Time, before, after any) pending {
	e := AuditEntry{ID: action + "/" + ref + "/" + detail + "/" + rand.Text(),
		Time: now.UTC(), Actor: actor, Action: action, Account: ref}
	if before != nil {
		e.Before, _ = json.Marshal(before)
	}
	if after != nil {
		e.After, _ = json.Marshal(after)
	}
	return pending{kindAudit, e}
}

// setStanding runs accountSetScript; true when the field was new.
func (s *Service) setStanding(ctx context.Context, ref, field string, value any, counter string, work ...pending) (bool, error) {
	v, err := json.Marshal(value)
	if err != nil {
		return false, fmt.Errorf("encoding %s of account %s: %w", field, ref, err)
	}
	args := []any{field, v, counter, s.retention.Milliseconds()}
	args, err = appendWork(args, work)
	if err != nil {
		return false, err
	}
	n, err := accountSetScript.Run(ctx, s.rdb, []string{s.accountKey(ref), s.pendingKey(shardOf(ref))}, args...).Int()
	if err != nil {
		return false, unavailable("recording "+field+" of account "+ref, err)
	}
	return n == 1, nil
}

// delStanding removes a standing field of account ref with the work that
// work makes of its value (the audit entry keeps what was removed). It
// returns the removed value, or "" when there was none.
func (s *Service) delStanding(ctx context.Context, ref, field string, work func(old json.RawMessage) []pending) (string, error) {
	keys := []string{s.accountKey(ref), s.pendingKey(shardOf(ref))}
	for range maxAttempts {
		old, err := s.rdb.HGet(ctx, keys[0], field).Result()
		if errors.Is(err, redis.Nil) {
			return "", nil
		}
		if err != nil {
			return "", unavailable("reading "+field+" of account "+ref, err)
		}
		args, err := appendWork([]any{field, old}, work(json.RawMessage(old)))
		if err != nil {
			return "", err
		}
		n, err := accountDelScript.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return "", unavailable("removing "+field+" of account "+ref, err)
		}
		if n == 1 {
			return old, nil
		}
	}
	return "", fmt.Errorf("%s of account %s changed %d times during one change, try again: %w", field, ref, maxAttempts, screening.ErrConflict)
}

// restrictionOf reads the restricted field's value ("" or nil: none).
func restrictionOf(v any) *Restriction {
	raw, _ := v.(string)
	if raw == "" {
		return nil
	}
	var r Restriction
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		// Damaged, but there: fail closed, the account stays restricted.
		return &Restriction{Reason: "restricted (the record of why is unreadable)"}
	}
	return &r
}

// restrictedDecision is screening's decision d overruled for an order of a
// restricted account: rejected, with reason account_restricted first.
func restrictedDecision(d screening.Decision, r *Restriction) screening.Decision {
	d.Outcome = screening.Reject
	d.Score = 100
	d.Reasons = append([]screening.Reason{{Code: refunds.CodeRestricted,
		Detail: "The account is restricted since " + r.Since.UTC().Format(time.RFC3339) + " (" + r.Reason + "): new orders are rejected until an admin lifts the restriction."}},
		d.Reasons...)
	return d
}

// moneyOf is what a refund or chargeback of r records; amount "" is the
// order's amount.
func moneyOf(r Record, amount string, now time.Time) Money {
	if amount == "" {
		amount = r.Amount
	}
	return Money{ScreeningID: r.ScreeningID, OrderID: r.OrderID, Date: now.UTC(), Amount: amount, Currency: r.Currency}
}

// countRefund records a refund of order r in its account's standing, once
// per order (a refund event's effect, before its commit: a retry does it
// again and changes nothing).
func (s *Service) countRefund(ctx context.Context, r Record, amount, actor string, now time.Time) error {
	ref := accountRef(r.Owner, r.AccountID)
	m := moneyOf(r, amount, now)
	_, err := s.setStanding(ctx, ref, prefixRefund+r.ScreeningID, m, fieldRefunds,
		accountAudit(ref, "account.refund_counted", r.ScreeningID, actor, now, nil, m))
	return err
}

// chargedBack is a chargeback's effect on the standing, before the
// chargeback's own commit (a retry does it again and changes nothing): the
// chargeback counted, the account restricted (account.restricted, once),
// and every order of the account flagged for termination, a held one
// rejected.
func (s *Service) chargedBack(ctx context.Context, r Record, actor string, now time.Time) (string, error) {
	ref := accountRef(r.Owner, r.AccountID)
	m := moneyOf(r, "", now)
	if _, err := s.setStanding(ctx, ref, prefixChargeback+r.ScreeningID, m, fieldChargebacks,
		accountAudit(ref, "account.chargeback_counted", r.ScreeningID, actor, now, nil, m)); err != nil {
		return "", err
	}
	why := "chargeback on order " + r.OrderID + " (" + r.ScreeningID + ")"
	rs := Restriction{Reason: why, Since: now.UTC(), By: actor, Order: r.ScreeningID}
	data, _ := json.Marshal(map[string]any{"account": ref, "screening_id": r.ScreeningID, "restriction": rs})
	ev := pending{kindEvent, pendingEvent{Type: events.AccountRestricted, Time: now.UTC(), Data: data}}
	if _, err := s.setStanding(ctx, ref, fieldRestricted, rs, "", ev,
		accountAudit(ref, events.AccountRestricted, "chargeback", actor, now, nil, rs)); err != nil {
		return "", err
	}
	n, err := s.terminateAll(ctx, ref, r.ScreeningID, why, now)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("account restricted; orders flagged for termination: %d", n), nil
}

// terminateAll flags every indexed order of account ref, and the order
// sid, for termination, and says how many it flagged now.
func (s *Service) terminateAll(ctx context.Context, ref, sid, why string, now time.Time) (int, error) {
	sids, err := s.rdb.ZRange(ctx, s.accountOrdersKey(ref), 0, -1).Result()
	if err != nil {
		return 0, unavailable("reading the orders of account "+ref, err)
	}
	if !slices.Contains(sids, sid) {
		sids = append(sids, sid)
	}
	n := 0
	for _, id := range sids {
		done, err := s.terminate(ctx, id, why, now)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// terminate flags order sid for termination through the commit path; false
// when it was flagged already or is gone with its retention.
func (s *Service) terminate(ctx context.Context, sid, why string, now time.Time) (bool, error) {
	r, err := s.load(ctx, sid)
	if errors.Is(err, screening.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = s.apply(ctx, r, "order.flagged_for_termination", func(r Record) (Change, []pending, error) {
		c, err := FlaggedForTermination(r, why, now)
		return c, nil, err
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoChange):
		return false, nil
	}
	return false, err
}

// FlaggedForTermination is the change of an order whose account charged
// back: the order is marked for termination (order.flagged_for_termination),
// and a held one is rejected (order.rejected), its pending requirements
// no longer required. ErrNoChange when it is marked already.
func FlaggedForTermination(r Record, why string, now time.Time) (Change, error) {
	if r.Termination != nil {
		return Change{}, fmt.Errorf("order %s is flagged for termination already: %w", r.ScreeningID, ErrNoChange)
	}
	next := bump(r, now)
	next.Termination = &Termination{Reason: why, Time: now.UTC()}
	c := Change{Next: next, Events: []string{events.OrderFlaggedForTermination},
		Entry: entry(now, "flagged_for_termination", why, "every order of the account is flagged for termination", "system")}
	if r.Status == StatusHeld {
		c.Next.Status, c.Next.Decision, c.Next.HoldUntil = StatusRejected, screening.Reject, time.Time{}
		for _, q := range []*Requirement{&c.Next.Requirements.EmailVerification, &c.Next.Requirements.KYC, &c.Next.Requirements.ManualReview} {
			if *q == Pending {
				*q = NotRequired
			}
		}
		c.Next.Reasons = append(slices.Clone(r.Reasons), screening.Reason{Code: refunds.CodeRestricted, Detail: "Rejected while held: " + why + "."})
		c.Events = append(c.Events, events.OrderRejected)
		c.Entry.Detail += ", rejected"
	}
	return c, nil
}

// accountRefOf names account of owner, or refuses an owner an account
// cannot have (legacy) and an id no order could carry.
func accountRefOf(owner Owner, account string) (string, error) {
	if !owner.valid() {
		return "", &screening.FieldError{Field: "owner", Problem: `name the account's owner: "checkout" or "key:" followed by an API key's name`}
	}
	if account == "" || len(account) > 256 || strings.ContainsFunc(account, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("account %q: %w", account, screening.ErrNotFound)
	}
	return accountRef(owner, account), nil
}

// Standing reads account of owner: its standing and its orders (at most
// limit, newest first) with their states, in two round trips. An account
// the gateway knows nothing of is ErrNotFound.
func (s *Service) Standing(ctx context.Context, owner Owner, account string, limit int) (Standing, error) {
	return s.standing(ctx, owner, account, limit, true)
}

// standing is Standing; known false answers an account the gateway knows
// nothing of with an empty standing.
func (s *Service) standing(ctx context.Context, owner Owner, account string, limit int, known bool) (Standing, error) {
	ref, err := accountRefOf(owner, account)
	if err != nil {
		return Standing{}, err
	}
	pipe := s.rdb.Pipeline()
	all := pipe.HGetAll(ctx, s.accountKey(ref))
	idx := pipe.ZRevRange(ctx, s.accountOrdersKey(ref), 0, int64(limit)-1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Standing{}, unavailable("reading account "+ref, err)
	}
	fields, sids := all.Val(), idx.Val()
	if known && len(fields) == 0 && len(sids) == 0 {
		return Standing{}, fmt.Errorf("account %s of %s: %w", account, owner, screening.ErrNotFound)
	}
	st, err := standingOf(fields)
	if err != nil {
		return Standing{}, fmt.Errorf("decoding account %s: %w", ref, err)
	}
	st.Owner, st.Account = owner, account
	recs, err := s.loadMany(ctx, sids)
	if err != nil {
		return Standing{}, err
	}
	for _, r := range recs {
		st.Orders = append(st.Orders, r.Answer())
	}
	return st, nil
}

// loadMany reads the records of sids in one pipelined round trip, skipping
// those gone with their retention.
func (s *Service) loadMany(ctx context.Context, sids []string) ([]Record, error) {
	if len(sids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(sids))
	for i, sid := range sids {
		cmds[i] = pipe.HMGet(ctx, s.recordKey(sid), "version", "record")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable("reading orders", err)
	}
	out := make([]Record, 0, len(sids))
	for i, c := range cmds {
		if c.Val()[0] == nil {
			continue
		}
		st, err := decodeStored(sids[i], c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, st.record)
	}
	return out, nil
}

// standingOf reads an account key's fields.
func standingOf(fields map[string]string) (Standing, error) {
	st := Standing{Flags: []Flag{}, Refunds: []Money{}, Chargebacks: []Money{}, Orders: []Result{}, Identity: "not_verified"}
	if v, ok := fields[fieldRestricted]; ok {
		st.Restriction = restrictionOf(v)
	}
	if v, ok := fields[identityField]; ok && v != "" {
		st.Identity = "verified"
	}
	for k, v := range fields {
		var err error
		switch {
		case strings.HasPrefix(k, "verified:"):
			st.EmailVerified = true
		case strings.HasPrefix(k, prefixFlag):
			var f Flag
			err = json.Unmarshal([]byte(v), &f)
			st.Flags = append(st.Flags, f)
		case strings.HasPrefix(k, prefixRefund):
			var m Money
			err = json.Unmarshal([]byte(v), &m)
			st.Refunds = append(st.Refunds, m)
		case strings.HasPrefix(k, prefixChargeback):
			var m Money
			err = json.Unmarshal([]byte(v), &m)
			st.Chargebacks = append(st.Chargebacks, m)
		}
		if err != nil {
			return Standing{}, fmt.Errorf("field %s: %w", k, err)
		}
	}
	slices.SortFunc(st.Flags, func(a, b Flag) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	byDate := func(a, b Money) int { return a.Date.Compare(b.Date) }
	slices.SortFunc(st.Refunds, byDate)
	slices.SortFunc(st.Chargebacks, byDate)
	return st, nil
}

// FlagRequest is the body of POST and DELETE /api/v1/accounts/{id}/flags:
// an abuse flag kind (or, to DELETE, "restricted": an admin lifts the
// restriction) and why.
type FlagRequest struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// KindRestricted names the restriction in a DELETE of flags.
const KindRestricted = "restricted"

// DecodeFlagRequest reads a flags body: strict, kind and reason required.
func DecodeFlagRequest(r io.Reader, removing bool) (FlagRequest, error) {
	var f FlagRequest
	if err := decodeObject(r, "flag", &f); err != nil {
		return FlagRequest{}, err
	}
	f.Reason = strings.TrimSpace(f.Reason)
	kinds := "must be trial_abuse, attacks, bans, staff_abuse or terms_violation_suspension"
	if removing {
		kinds += ", or restricted (an admin lifts the restriction)"
	}
	switch {
	case refunds.ValidFlag(refunds.FlagKind(f.Kind)), removing && f.Kind == KindRestricted:
	case f.Kind == "":
		return FlagRequest{}, &screening.FieldError{Field: "kind", Problem: "required"}
	default:
		return FlagRequest{}, &screening.FieldError{Field: "kind", Problem: kinds}
	}
	if f.Reason == "" {
		return FlagRequest{}, &screening.FieldError{Field: "reason", Problem: "required"}
	}
	return f, checkText("reason", f.Reason, maxReviewReason)
}

// AddFlag records an officer's abuse flag on account of owner, with its
// audit entry, in one step; a flag of that kind already there is
// ErrConflict. It returns the standing after.
func (s *Service) AddFlag(ctx context.Context, owner Owner, account string, f FlagRequest, actor string) (Standing, error) {
	ref, err := accountRefOf(owner, account)
	if err != nil {
		return Standing{}, err
	}
	now := s.now()
	fl := Flag{Kind: refunds.FlagKind(f.Kind), Reason: f.Reason, By: actor, Time: now.UTC()}
	added, err := s.setStanding(ctx, ref, prefixFlag+f.Kind, fl, "", accountAudit(ref, "account.flagged", f.Kind, actor, now, nil, fl))
	if err != nil {
		return Standing{}, err
	}
	if !added {
		return Standing{}, fmt.Errorf("account %s is flagged %s already (DELETE the flag first to change it): %w", account, f.Kind, screening.ErrConflict)
	}
	return s.standing(ctx, owner, account, defaultStandingOrders, false)
}

// RemoveFlag removes an abuse flag of account of owner, or (kind
// restricted) lifts its restriction: the caller checks that an admin asks
// for that. The audit entry keeps the flag removed and why. A flag that is
// not there is ErrNotFound.
func (s *Service) RemoveFlag(ctx context.Context, owner Owner, account string, f FlagRequest, actor string) (Standing, error) {
	ref, err := accountRefOf(owner, account)
	if err != nil {
		return Standing{}, err
	}
	now := s.now()
	field, action := prefixFlag+f.Kind, "account.flag_removed"
	if f.Kind == KindRestricted {
		field, action = fieldRestricted, "account.restriction_lifted"
	}
	why := map[string]string{"reason": f.Reason}
	old, err := s.delStanding(ctx, ref, field, func(old json.RawMessage) []pending {
		return []pending{accountAudit(ref, action, f.Kind, actor, now, old, why)}
	})
	if err != nil {
		return Standing{}, err
	}
	if old == "" {
		return Standing{}, fmt.Errorf("account %s has no %s flag: %w", account, f.Kind, screening.ErrNotFound)
	}
	return s.standing(ctx, owner, account, defaultStandingOrders, false)
}

// defaultStandingOrders is how many orders a standing lists by default.
const defaultStandingOrders = 100
