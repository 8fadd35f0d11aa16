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
// bound to owner's account, or to owner's email reference for an order
// without an account id, and a new case, for KYC only. nil: no kyc link.
type kycLinks interface {
	KYCLink(owner, accountID, name, email string) (string, error)
	KYCEmailLink(owner, emailHash, name, email string) (string, error)
}

// identityField is the account key's field recording a verified identity
// (the approving case's id). It lives as long as the account key
// (screening.order_retention after its last change).
const identityField = "identity"

// codeKYCRejected is the reason code a rejected KYC case appends.
const codeKYCRejected = "kyc_rejected"

// kycLink is the customer's KYC link of a new held order: bound to the
// order's account reference (refOf), its account when it has an id, else
// its email reference (the same reference email verification completes:
// an intercepted guest checkout). Screening requires an address, so every
// order has one of them; one without would get "" and stay held (fail
// closed: nothing would bind documents to one person).
func (s *Service) kycLink(r Record, o screening.Order) (string, error) {
	if s.kyc == nil {
		return "", nil
	}
	name := o.Account.Name
	if b := o.Billing.FirstName + " " + o.Billing.LastName; len(b) > 1 {
		name = b
	}
	var l string
	var err error
	switch {
	case r.AccountID != "":
		l, err = s.kyc.KYCLink(string(r.Owner), r.AccountID, name, o.Account.Email)
	case r.EmailHash != "":
		l, err = s.kyc.KYCEmailLink(string(r.Owner), r.EmailHash, name, o.Account.Email)
	}
	if err != nil {
		return "", fmt.Errorf("making the kyc link of order %s: %w", r.ScreeningID, err)
	}
	return l, nil
}

// The identity a KYC case checks is owner's account accountID or, when
// accountID is "", owner's email reference: the orders of owner that came
// without an account id and with the address whose keyed hash is
// emailHash (Record.EmailHash; see emailRef). An account id never names
// an email reference, whatever it looks like.

// KYCSubmitted records on every held order of the identity waiting on
// KYC that documents were submitted (case, submission number): a timeline
// line, once per submission. The requirement stays pending.
func (s *Service) KYCSubmitted(ctx context.Context, owner, accountID, emailHash, caseID string, submission int, actor string) error {
	mark := "kyc.submitted:" + caseID + ":" + strconv.Itoa(submission)
	return s.eachHeldOf(ctx, owner, accountID, emailHash, "order.kyc_submitted", func(r Record) (Change, error) {
		return KYCNoted(r, mark, caseID, actor, s.now())
	})
}

// IdentityVerified marks the identity (owner's account, or email
// reference) verified (its later orders skip KYC under kyc_when
// first_order or an expression; under always they are asked again) and
// completes the kyc requirement of its held orders, clearing those with
// nothing else pending (order.cleared).
func (s *Service) IdentityVerified(ctx context.Context, owner, accountID, emailHash, caseID, actor string) error {
	ref, err := identityRef(owner, accountID, emailHash)
	if err != nil || caseID == "" {
		return fmt.Errorf("identity verified: owner, case and one of account and email reference are required: %w", screening.ErrInvalidInput)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.accountKey(ref), identityField, caseID)
	pipe.PExpire(ctx, s.accountKey(ref), s.retention)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("marking account "+ref+" identity-verified", err)
	}
	return s.eachHeld(ctx, ref, "order.requirement_done", func(r Record) (Change, error) {
		return Complete(r, ReqKYC, actor, s.now())
	})
}

// IdentityRejected rejects every held order of the identity (owner's
// account, or email reference) waiting on KYC (order.rejected), with
// reason code kyc_rejected and the case's reason. The identity's mark
// of a cleared order goes too (there is one only if kyc_when asked an
// identity with a cleared order, always or an expression): an identity
// an officer rejected is asked for documents again under first_order.
func (s *Service) IdentityRejected(ctx context.Context, owner, accountID, emailHash, caseID, reason, actor string) error {
	ref, err := identityRef(owner, accountID, emailHash)
	if err != nil {
		return fmt.Errorf("identity rejected: %w", err)
	}
	if err := s.rdb.HDel(ctx, s.accountKey(ref), fieldCleared).Err(); err != nil {
		return unavailable("unmarking account "+ref+" as having a cleared order", err)
	}
	return s.eachHeld(ctx, ref, "order.kyc_rejected", func(r Record) (Change, error) {
		return KYCRejected(r, caseID, reason, actor, s.now())
	})
}

// identityRef is the account reference of a KYC case's identity: owner's
// account accountID, or, when that is "", owner's email reference
// emailHash; exactly one of them is given.
func identityRef(owner, accountID, emailHash string) (string, error) {
	if !Owner(owner).valid() || (accountID == "") == (emailHash == "") {
		return "", fmt.Errorf("owner %q with one of account and email reference: %w", owner, screening.ErrInvalidInput)
	}
	return refOf(Owner(owner), accountID, emailHash), nil
}

// eachHeldOf is eachHeld for the identity a KYC case is bound to.
func (s *Service) eachHeldOf(ctx context.Context, owner, accountID, emailHash, action string, transition func(Record) (Change, error)) error {
	ref, err := identityRef(owner, accountID, emailHash)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return s.eachHeld(ctx, ref, action, transition)
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
