package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/screening"
)

// Defaults of the holds section.
const (
	DefaultKYCWhen     = KYCFirstOrder
	DefaultExpireAfter = 7 * 24 * time.Hour
)

// holds.kyc_when keywords; anything else is an expression.
const (
	KYCNever      = "never"
	KYCAlways     = "always"
	KYCFirstOrder = "first_order"
)

// HoldsConfig is the `holds` section: what a new order that screening did
// not reject waits for before it clears (PRODUCT.md §4 "Holds and
// clearing").
type HoldsConfig struct {
	// KYCWhen: never, always (every order, even of an account whose
	// identity was verified), first_order (every order until the account
	// has an approved KYC case or an order that cleared: orders placed
	// while none has cleared are all asked; for an order without an
	// account id, the account is its email address under its owner, the
	// email reference that email verification and KYC complete), or an
	// expression in the rules language over the order's
	// signals, score and decision (`score >= 40 || billing_country in
	// ["BR", "NG"]`; true asks for KYC unless the account's identity was
	// verified, a KYC case of it approved).
	KYCWhen string `yaml:"kyc_when"`
	// EmailVerification: hold orders until the account verifies its
	// email address (once per account and address). An order without
	// an account id is asked every time: anyone can type an address, so
	// only the mailbox owner confirming this order lets the address's
	// past stand for it. Default on; off, such an order whose KYC the
	// address's approved identity or cleared order waives is still
	// held for email verification.
	EmailVerification *bool `yaml:"email_verification"`
	// ExpireAfter: a hold still pending after this long expires.
	ExpireAfter time.Duration `yaml:"expire_after"`
}

// SetDefaults fills unset fields.
func (c *HoldsConfig) SetDefaults() {
	if c.KYCWhen == "" {
		c.KYCWhen = DefaultKYCWhen
	}
	if c.EmailVerification == nil {
		on := true
		c.EmailVerification = &on
	}
	if c.ExpireAfter == 0 {
		c.ExpireAfter = DefaultExpireAfter
	}
}

// Validate checks the section (after SetDefaults); a bad kyc_when
// expression is an error naming it.
func (c *HoldsConfig) Validate() error {
	var errs []error
	if c.ExpireAfter < time.Minute {
		errs = append(errs, configerr.Field("expire_after", c.ExpireAfter, "must be at least 1m"))
	}
	if _, err := NewPolicy(*c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Policy decides which holds a new order gets.
type Policy struct {
	kycWhen     string
	kycExpr     *vm.Program // set when kyc_when is an expression
	email       bool
	expireAfter time.Duration
}

// kycEnv is what a kyc_when expression sees: the screening signals (the
// rules' names), the outcome, and billing.country as the issue spells it.
type kycEnv struct {
	screening.Signals
	Score    int        `expr:"score"`
	Decision string     `expr:"decision"`
	Billing  kycBilling `expr:"billing"`
}

type kycBilling struct {
	Country string `expr:"country"`
}

// NewPolicy compiles c (after SetDefaults).
func NewPolicy(c HoldsConfig) (*Policy, error) {
	p := &Policy{kycWhen: c.KYCWhen, email: c.EmailVerification == nil || *c.EmailVerification, expireAfter: c.ExpireAfter}
	if p.expireAfter <= 0 {
		p.expireAfter = DefaultExpireAfter
	}
	switch c.KYCWhen {
	case KYCNever, KYCAlways, KYCFirstOrder:
	case "":
		p.kycWhen = DefaultKYCWhen
	default:
		prog, err := expr.Compile(c.KYCWhen, expr.Env(kycEnv{}), expr.AsBool())
		if err != nil {
			return nil, configerr.Field("kyc_when", c.KYCWhen, fmt.Sprintf("not never, always, first_order or a valid expression: %v", err))
		}
		p.kycExpr = prog
	}
	return p, nil
}

// needs decides the holds of a new order o screened as d, of an account in
// state a.
func (p *Policy) needs(o screening.Order, d screening.Decision, a accountState) (Needs, error) {
	// An order without an account id belongs to its email reference,
	// which is only an address the visitor typed: what the reference
	// did before (a verified address, an approved identity, a cleared
	// order) stands for this order only once the mailbox owner confirms
	// it. Accounts are authenticated by the storefront: verified once.
	guest := o.Account.ID == ""
	n := Needs{Email: p.email && (guest || !a.Verified)}
	asked := false // kyc_when asks, before the identity's past waives it
	switch {
	case p.kycExpr != nil:
		out, err := expr.Run(p.kycExpr, kycEnv{Signals: d.Signals, Score: d.Score, Decision: string(d.Outcome), Billing: kycBilling{Country: o.Billing.Country}})
		if err != nil {
			// Fail closed: a rule that cannot run asks for documents.
			n.KYC = true
			return n, nil
		}
		asked, _ = out.(bool)
		n.KYC = asked && !a.Identity
	case p.kycWhen == KYCAlways:
		// always means every order, an identity verified before too.
		asked, n.KYC = true, true
	case p.kycWhen == KYCFirstOrder:
		// Until the account has an approved identity or an order that
		// cleared (firstorder.go); an order without an account id
		// counts under its email reference (screening requires an
		// address).
		asked, n.KYC = true, !a.Cleared && !a.Identity
	}
	if guest && asked && !n.KYC {
		// Waived by the reference's past: only if the mailbox owner
		// confirms, email verification on or off.
		n.Email = true
	}
	return n, nil
}

// Expire moves the stale holds of every shard to expired (order.expired),
// up to batch per shard, and says how many it moved. The expiry worker
// (RunExpiry) calls it under its lease; calling it from two processes at
// once is still safe (the version check commits each expiry once).
func (s *Service) Expire(ctx context.Context, batch int64) (int, error) {
	now := s.now()
	moved := 0
	var errs []error
	for sh := range Shards {
		sids, err := s.rdb.ZRangeByScore(ctx, s.heldKey(sh), &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: batch,
		}).Result()
		if err != nil {
			errs = append(errs, unavailable("reading stale holds", err))
			continue
		}
		for _, sid := range sids {
			r, err := s.load(ctx, sid)
			if errors.Is(err, screening.ErrNotFound) {
				// Gone with its retention: drop it from the index.
				_ = s.rdb.ZRem(ctx, s.heldKey(sh), sid).Err()
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			_, err = s.apply(ctx, r, "order.expired", func(r Record) (Change, []pending, error) {
				c, err := Expired(r, now)
				return c, nil, err
			})
			switch {
			case err == nil:
				moved++
			case errors.Is(err, ErrNoChange):
			default:
				errs = append(errs, err)
			}
		}
	}
	return moved, errors.Join(errs...)
}

// RunExpiry runs the expiry worker until ctx ends: every interval, the
// process holding the lease (one at a time across all gateway processes;
// a killed holder's lease lapses after 3 intervals) expires stale holds.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration, owner string) {
	l := lease{rdb: s.rdb, key: s.prefix + "orders:expiry-lease", owner: owner, ttl: 3 * interval}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ok, err := l.hold(ctx); err != nil {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "expiry lease", slog.String("error", err.Error()))
		} else if ok {
			if n, err := s.Expire(ctx, 100); err != nil {
				s.logger.LogAttrs(ctx, slog.LevelError, "expiring holds", slog.String("error", err.Error()))
			} else if n > 0 {
				s.logger.LogAttrs(ctx, slog.LevelInfo, "holds expired", slog.Int("count", n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lease is a Redis lease one process at a time holds: taken when free,
// renewed by its holder.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	owner string
	ttl   time.Duration
}

var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

func (l lease) hold(ctx context.Context) (bool, error) {
	n, err := leaseScript.Run(ctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("taking lease %s: %w", l.key, err)
	}
	return n == 1, nil
}
