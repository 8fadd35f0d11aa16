package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening"
)

// Identity (KYC, issue 10): what a KYC case of an account means for its
// held orders. The kyc package owns the case; it tells the lifecycle
// through these methods, at least once (its relay), so each is idempotent:
// a transition that no longer applies is ErrNoChange, skipped.

// kycLinks mints a held order's KYC link (the kyc package's *Service):
// bound to owner's account and a new case, for KYC only. nil: no kyc link.
type kycLinks interface {
	KYCLink(owner, accountID, name, email string) (string, error)
}

// identityField is the account key's field recording a verified identity
// (the approving case's id). It lives as long as the account key
// (screening.order_retention after its last change).
const identityField = "identity"

// codeKYCRejected is the reason code a rejected KYC case appends.
const codeKYCRejected = "kyc_rejected"

// kycLink is the customer's KYC link of a new held order, or "" when it
// has no account id: a link must bind one person's account, and an
// order without one stays held (fail closed) until an officer acts.
func (s *Service) kycLink(r Record, o screening.Order) (string, error) {
	if s.kyc == nil || o.Account.ID == "" {
		return "", nil
	}
	name := o.Account.Name
	if b := o.Billing.FirstName + " " + o.Billing.LastName; len(b) > 1 {
		name = b
	}
	l, err := s.kyc.KYCLink(string(r.Owner), o.Account.ID, name, o.Account.Email)
	if err != nil {
		return "", fmt.Errorf("making the kyc link of order %s: %w", r.ScreeningID, err)
	}
	return l, nil
}

// KYCSubmitted records on every held order of owner's account waiting on
// KYC that documents were submitted (case, submission number): a timeline
// line, once per submission. The requirement stays pending.
func (s *Service) KYCSubmitted(ctx context.Context, owner, accountID, caseID string, submission int, actor string) error {
	mark := "kyc.submitted:" + caseID + ":" + strconv.Itoa(submission)
	return s.eachHeldOf(ctx, owner, accountID, "order.kyc_submitted", func(r Record) (Change, error) {
		return KYCNoted(r, mark, caseID, actor, s.now())
	})
}

// IdentityVerified marks owner's account identity-verified (later orders
// skip KYC under kyc_when first_order or an expression; under always they
// are asked again) and completes the kyc requirement of its held orders,
// clearing those with nothing else pending (order.cleared).
func (s *Service) IdentityVerified(ctx context.Context, owner, accountID, caseID, actor string) error {
	if !Owner(owner).valid() || accountID == "" || caseID == "" {
		return fmt.Errorf("identity verified: owner, account and case are required: %w", screening.ErrInvalidInput)
	}
	ref := accountRef(Owner(owner), accountID)
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.accountKey(ref), identityField, caseID)
	pipe.PExpire(ctx, s.accountKey(ref), s.retention)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("marking account "+ref+" identity-verified", err)
	}
	return s.eachHeldOf(ctx, owner, accountID, "order.requirement_done", func(r Record) (Change, error) {
		return Complete(r, ReqKYC, actor, s.now())
	})
}

// IdentityRejected rejects every held order of owner's account waiting on
// KYC (order.rejected), with reason code kyc_rejected and the case's
// reason.
func (s *Service) IdentityRejected(ctx context.Context, owner, accountID, caseID, reason, actor string) error {
	return s.eachHeldOf(ctx, owner, accountID, "order.kyc_rejected", func(r Record) (Change, error) {
		return KYCRejected(r, caseID, reason, actor, s.now())
	})
}

// eachHeldOf is eachHeld for owner's account with an id (the account a KYC
// case is bound to).
func (s *Service) eachHeldOf(ctx context.Context, owner, accountID, action string, transition func(Record) (Change, error)) error {
	if !Owner(owner).valid() || accountID == "" {
		return fmt.Errorf("%s: owner and account are required: %w", action, screening.ErrInvalidInput)
	}
	return s.eachHeld(ctx, accountRef(Owner(owner), accountID), action, transition)
}

// eachHeld applies transition to every held order of the account ref (the
// held-by index of every shard), each through the one commit path;
// ErrNoChange is skipped.
func (s *Service) eachHeld(ctx context.Context, ref, action string, transition func(Record) (Change, error)) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, Shards)
	for sh := range Shards {
		cmds[sh] = pipe.SMembers(ctx, s.accountIndexKey(sh, ref))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("reading held orders of account "+ref, err)
	}
	var errs []error
	for _, cmd := range cmds {
		for _, sid := range cmd.Val() {
			r, err := s.load(ctx, sid)
			if errors.Is(err, screening.ErrNotFound) {
				continue // expired with its retention
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			_, err = s.apply(ctx, r, action, func(r Record) (Change, []pending, error) {
				c, err := transition(r)
				return c, nil, err
			})
			if err != nil && !errors.Is(err, ErrNoChange) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// KYCNoted is the change recording a KYC submission on a held order
// waiting on KYC: a timeline line, once per mark (kept in Seen).
// ErrNoChange when the order is not held, KYC is not pending or the mark
// is already recorded.
func KYCNoted(r Record, mark, caseID, actor string, now time.Time) (Change, error) {
	if r.Status != StatusHeld || r.Requirements.KYC != Pending {
		return Change{}, fmt.Errorf("order %s does not wait on kyc: %w", r.ScreeningID, ErrNoChange)
	}
	if slices.Contains(r.Seen, mark) {
		return Change{}, fmt.Errorf("order %s: %s already recorded: %w", r.ScreeningID, mark, ErrNoChange)
	}
	next := bump(r, now)
	next.Seen = append(slices.Clone(r.Seen), mark)
	return Change{Next: next, Entry: entry(now, "kyc_submitted", "", "documents submitted, case "+caseID, actor)}, nil
}

// KYCRejected is the change of a rejected KYC case on a held order
// waiting on KYC: rejected, reason kyc_rejected, every other pending
// requirement not_required, order.rejected. ErrNoChange when the order is
// not held or KYC is not pending.
func KYCRejected(r Record, caseID, reason, actor string, now time.Time) (Change, error) {
	if r.Status != StatusHeld || r.Requirements.KYC != Pending {
		return Change{}, fmt.Errorf("order %s does not wait on kyc: %w", r.ScreeningID, ErrNoChange)
	}
	next := bump(r, now)
	next.Status = StatusRejected
	next.Decision = screening.Reject
	next.HoldUntil = time.Time{}
	next.Requirements.KYC = NotRequired
	for _, q := range []*Requirement{&next.Requirements.EmailVerification, &next.Requirements.ManualReview} {
		if *q == Pending {
			*q = NotRequired
		}
	}
	next.Reasons = append(slices.Clone(r.Reasons), screening.Reason{Code: codeKYCRejected, Detail: "Identity check rejected (case " + caseID + "): " + reason})
	return Change{Next: next, Events: []string{events.OrderRejected},
		Entry: entry(now, "kyc_rejected", reason, "identity check rejected, case "+caseID+", rejected", actor)}, nil
}
