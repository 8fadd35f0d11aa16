// Package orders is the order lifecycle: the stored record of an order
// (versioned, separate from the API answer), the state machine as pure
// transition functions (record.go), the one commit path every state change
// goes through (commit.go), the holds policy and its expiry (holds.go), and
// the relay that moves each change's events and audit entries from the
// order's Redis slot to the shared outbox and the audit log (relay.go).
// Scoring is screening's; this package knows what a score leads to.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/refunds"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/ident"
)

// GuardedScreener scores an order with the orders service's own look-up in
// the same Redis round trip (screening's *Screener).
type GuardedScreener interface {
	ScreenGuarded(ctx context.Context, o screening.Order, now time.Time, g screening.Guard) (screening.Decision, bool, error)
}

// verificationLinks makes the customer's email verification link (part V
// of issue 8). nil: the answer has no verify_email link.
type verificationLinks interface {
	VerifyEmailLink(owner, accountID, email string) (string, error)
}

// Deps are the Service's collaborators.
type Deps struct {
	Screener  GuardedScreener // required
	Effects   Effects         // required: what storefront events do beyond the record
	Links     verificationLinks
	Policy    *Policy // required (NewPolicy)
	Logger    *slog.Logger
	PublicURL string // the customer-facing base URL of links ("" : relative links)

	// Refunds is the refund rules (zero: their defaults).
	Refunds refunds.Config
	// KYCLinks mints held orders' KYC links (identity.go); nil: none.
	KYCLinks kycLinks
}

// Service is the orders service: idempotent submission, look-up, review,
// storefront events, email verification and expiry, each change through the
// one commit path. It is safe for concurrent use.
type Service struct {
	rdb       redis.UniversalClient
	screener  GuardedScreener
	effects   Effects
	links     verificationLinks
	kyc       kycLinks
	policy    *Policy
	hasher    *ident.Hasher
	prefix    string
	retention time.Duration
	publicURL string
	refunds   refunds.Config
	now       func() time.Time
	logger    *slog.Logger
}

// New returns the orders service on rdb. cfg is screening's section (key
// prefix, retention, hash key); now is the clock.
func New(cfg screening.Config, rdb redis.UniversalClient, deps Deps, now func() time.Time) (*Service, error) {
	var errs []error
	if rdb == nil {
		errs = append(errs, errors.New("no Redis client"))
	}
	if deps.Screener == nil {
		errs = append(errs, errors.New("no screener"))
	}
	if deps.Effects == nil {
		errs = append(errs, errors.New("no event effects"))
	}
	if deps.Policy == nil {
		errs = append(errs, errors.New("no holds policy"))
	}
	if cfg.KeyPrefix == "" || cfg.OrderRetention <= 0 {
		errs = append(errs, errors.New("config without key_prefix or order_retention (SetDefaults not called?)"))
	}
	if now == nil {
		errs = append(errs, errors.New("no clock"))
	}
	hasher, err := ident.NewHasher([]byte(cfg.HashKey))
	if err != nil {
		errs = append(errs, fmt.Errorf("screening ids: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("building orders service: %w", err)
	}
	rc := deps.Refunds
	rc.SetDefaults()
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		rdb: rdb, screener: deps.Screener, effects: deps.Effects, links: deps.Links, kyc: deps.KYCLinks, policy: deps.Policy,
		hasher: hasher, prefix: cfg.KeyPrefix, retention: cfg.OrderRetention,
		publicURL: strings.TrimSuffix(deps.PublicURL, "/"), refunds: rc, now: now, logger: logger,
	}, nil
}

// accountKey is an account's own state (verified, cleared), in the slot
// of the shard its name hashes to, with that shard's pending stream.
func (s *Service) accountKey(ref string) string { return s.tag(shardOf(ref)) + "account:" + ref }

// emailHash is the keyed hash an order keeps of its email.
func (s *Service) emailHash(email string) string {
	return s.hasher.Hash(ident.KindEmail, strings.ToLower(strings.TrimSpace(email)))
}

// Submit screens and stores an order of owner, once. (owner, order_id) is
// the idempotency key: the same order again returns the stored answer
// without screening it again (counters are not incremented twice); a
// different order with the same key is an error wrapping ErrConflict. The
// same order_id under another owner is another order. "The same order" is
// decided on canonical values (screening.Fingerprint).
//
// Round trips: the look-up of the record and the account rides in the
// screening pipeline (blocklists and the velocity update), and the create
// is one commit: two Redis round trips for a new order, one for a replay.
// A Redis failure is an error wrapping ErrUnavailable and leaves nothing
// half-done: the record, its creation event and audit entry are one
// commit, and velocity counts are keyed by the screening id.
func (s *Service) Submit(ctx context.Context, owner Owner, o screening.Order) (Result, error) {
	return s.submit(ctx, owner, o, nil)
}

// SubmitJSON is Submit that also returns the answer's JSON encoding
// (json.Marshal's bytes) when it has one: a new order's answer is encoded
// once for its commit (the audit entry's after), and the API replies with
// those bytes instead of encoding the answer again. It is nil for an
// answer read back (a replay).
func (s *Service) SubmitJSON(ctx context.Context, owner Owner, o screening.Order) (Result, []byte, error) {
	var answer []byte
	res, err := s.submit(ctx, owner, o, &answer)
	return res, answer, err
}

// submit is Submit; a new order's encoded answer goes to *answer when
// answer is not nil.
func (s *Service) submit(ctx context.Context, owner Owner, o screening.Order, answer *[]byte) (Result, error) {
	if !owner.valid() {
		return Result{}, fmt.Errorf("submitting order: owner %q: %w", owner, screening.ErrInvalidInput)
	}
	if err := o.Normalize(); err != nil {
		return Result{}, err
	}
	fp, err := screening.Fingerprint(o)
	if err != nil {
		return Result{}, err
	}
	if _, err := paidAt("paid_at", o.PaidAt, s.now()); err != nil {
		return Result{}, err
	}
	sid := screeningID(s.hasher, owner, o.OrderID)
	o.ScreeningID = sid
	emailHash := ""
	if o.Account.Email != "" {
		emailHash = s.emailHash(o.Account.Email)
	}
	ref := refOf(owner, o.Account.ID, emailHash)
	var rec, acct *redis.SliceCmd
	var legacy *redis.BoolCmd
	key := s.recordKey(sid)
	g := screening.Guard{
		Key:    key,
		Logged: true, // create logs the decision with the status stored
		Queue: func(ctx context.Context, pipe redis.Pipeliner) {
			rec = pipe.HMGet(ctx, key, "version", "record", "fp")
			legacy = pipe.HExists(ctx, s.legacyKey(sid), "result")
			if ref != "" {
				acct = pipe.HMGet(ctx, s.accountKey(ref), verifiedField(emailHash), fieldCleared, fieldRestricted, fieldRefunds, identityField)
			}
		},
		Signals: func(sig *screening.Signals) {
			if acct != nil {
				a := accountStateOf(acct.Val())
				sig.AccountRefunds, sig.AccountRestricted = a.Refunds, a.Restriction != nil
			}
		},
		Stop: func() (bool, error) {
			vals, err := rec.Result()
			if err != nil {
				return false, fmt.Errorf("reading order record: %w", err)
			}
			old, err := legacy.Result()
			if err != nil {
				return false, fmt.Errorf("reading order record: %w", err)
			}
			return vals[0] != nil || old, nil
		},
	}
	now := s.now()
	d, stopped, err := s.screener.ScreenGuarded(ctx, o, now, g)
	if err != nil {
		return Result{}, err
	}
	if stopped && rec.Val()[0] == nil {
		// Stored before issue 8's record layout: move it, then answer.
		if _, err := s.migrate(ctx, sid); err != nil {
			return Result{}, err
		}
		vals, err := s.rdb.HMGet(ctx, s.recordKey(sid), "version", "record", "fp").Result()
		if err != nil {
			return Result{}, unavailable("reading order "+sid, err)
		}
		st, err := decodeStored(sid, vals)
		if err != nil {
			return Result{}, err
		}
		return s.existing(st, fp)
	}
	if stopped {
		st, err := decodeStored(sid, rec.Val())
		if err != nil {
			return Result{}, err
		}
		return s.existing(st, fp)
	}
	var a accountState
	if acct != nil {
		vals, err := acct.Result()
		if err != nil {
			return Result{}, unavailable("reading account of order "+sid, err)
		}
		a = accountStateOf(vals)
	}
	return s.create(ctx, owner, o, fp, emailHash, d, a, now, answer)
}

// accountState is what an account's key says.
type accountState struct {
	Verified    bool         // verified this order's email address once
	Cleared     bool         // has an order that cleared (firstorder.go)
	Restriction *Restriction // restricted (standing.go): orders are rejected
	Refunds     int          // refunds received
	Identity    bool         // a KYC case of the account was approved (identity.go)
}

// accountStateOf reads the account key's HMGET in Submit.
func accountStateOf(vals []any) accountState {
	if len(vals) < 5 {
		return accountState{}
	}
	n, _ := vals[3].(string)
	refunds, _ := strconv.Atoi(n)
	return accountState{Verified: vals[0] != nil, Cleared: vals[1] != nil, Restriction: restrictionOf(vals[2]), Refunds: refunds, Identity: vals[4] != nil}
}

// create stores a new order; emailHash is s.emailHash of its email ("":
// none), computed once by Submit. The answer's encoding goes to *answer
// (when not nil) if this call stored the order.
func (s *Service) create(ctx context.Context, owner Owner, o screening.Order, fp, emailHash string, d screening.Decision, a accountState, now time.Time, answer *[]byte) (Result, error) {
	sid := o.ScreeningID
	if a.Restriction != nil {
		d = restrictedDecision(d, a.Restriction)
	}
	needs, err := s.policy.needs(o, d, a)
	if err != nil {
		return Result{}, err
	}
	r := Record{
		ScreeningID: sid, OrderID: o.OrderID, Owner: owner, AccountID: o.Account.ID,
		Private: Private{CardBIN: screening.CardIIN(o.Payment.CardBIN), CardLast4: o.Payment.CardLast4, IP: o.IP, MinFraudID: d.MinFraudID},
	}
	r.EmailHash = emailHash
	orderFacts(&r, o)
	c := Created(r, d, needs, now, s.policy.expireAfter)
	links, err := s.linksFor(c.Next, o)
	if err != nil {
		return Result{}, err
	}
	c.Next.Links = links
	var extra []pending
	if o.Account.ID != "" {
		// A rejected order is only indexed: its own kind, which a relay
		// from before issue 11 drops rather than marking the account. A
		// held one is indexed, and marks the account when it clears.
		k, rejected := kindAccount, c.Next.Status == StatusRejected
		if rejected {
			k = kindAccountIndex
		}
		extra = append(extra, pending{k, pendingAccount{Owner: owner, Account: o.Account.ID, Order: sid, Created: now.UTC(),
			Rejected: rejected, Held: c.Next.Status == StatusHeld}})
	} else {
		// An email reference's orders are not indexed (it has no
		// standing: standingEffects); one cleared at once marks it.
		extra = append(extra, clearedMark(Record{}, c)...)
	}
	extra = append(extra, kycRequestMail(c.Next, o.Account.Email)...)
	if c.Next.Requirements.EmailVerification == Pending && o.Account.Email != "" {
		extra = append(extra, pending{kindMail, pendingMail{Owner: owner, Account: o.Account.ID, Email: o.Account.Email, Ref: sid}})
	}
	// One line per order: screening's decision (Guard.Logged) with the
	// status the order is stored with, logged before the commit as
	// screening logged it (a failed commit is logged as the request's
	// error).
	s.logger.LogAttrs(ctx, slog.LevelInfo, "order screened",
		slog.String("decision", string(d.Outcome)), slog.Int("score", d.Score), slog.Any("rules", d.Fired),
		slog.String("screening_id", sid), slog.String("status", string(c.Next.Status)))
	res := c.Next.Answer()
	enc, err := json.Marshal(res)
	if err != nil {
		return Result{}, fmt.Errorf("encoding the answer of order %s: %w", sid, err)
	}
	c.answer = enc
	st, err := s.commit(ctx, nil, c, fp, "order.created", extra...)
	if err != nil {
		return Result{}, err
	}
	if st != nil {
		// A concurrent submission of the same id won.
		return s.existing(*st, fp)
	}
	if answer != nil {
		*answer = enc
	}
	return res, nil
}

// linksFor is the customer's links of a new held order.
func (s *Service) linksFor(r Record, o screening.Order) (map[string]string, error) {
	links := map[string]string{}
	if r.Status != StatusHeld {
		return links, nil
	}
	if r.Requirements.EmailVerification == Pending && s.links != nil && o.Account.Email != "" {
		l, err := s.links.VerifyEmailLink(string(r.Owner), o.Account.ID, o.Account.Email)
		if err != nil {
			return nil, fmt.Errorf("making the verification link of order %s: %w", r.ScreeningID, err)
		}
		links["verify_email"] = l
	}
	if r.Requirements.KYC == Pending {
		l, err := s.kycLink(r, o)
		if err != nil {
			return nil, err
		}
		if l != "" {
			links["kyc"] = l
		}
	}
	return links, nil
}

// existing answers a submission whose screening id is already stored.
func (s *Service) existing(st stored, fp string) (Result, error) {
	if st.fp != fp {
		return Result{}, fmt.Errorf("order %s was already submitted with a different body: %w", st.record.ScreeningID, screening.ErrConflict)
	}
	return st.record.Answer(), nil
}

// load reads an order's record.
func (s *Service) load(ctx context.Context, sid string) (Record, error) {
	vals, err := s.rdb.HMGet(ctx, s.recordKey(sid), "version", "record").Result()
	if err != nil {
		return Record{}, unavailable("reading order "+sid, err)
	}
	if vals[0] == nil {
		return Record{}, fmt.Errorf("order %s: %w", sid, screening.ErrNotFound)
	}
	st, err := decodeStored(sid, vals)
	if err != nil {
		return Record{}, err
	}
	return st.record, nil
}

// find reads the order a names by id, hiding an order a may not see: both
// are "not found", so a storefront cannot learn that another key's order
// exists.
func (s *Service) find(ctx context.Context, a Access, id string) (Record, error) {
	sid, err := s.resolve(a, id)
	if err != nil {
		return Record{}, err
	}
	r, err := s.loadOrMigrate(ctx, sid)
	if errors.Is(err, screening.ErrNotFound) && !a.Officer && !screening.IsScreeningID(id) {
		// The shop's own order id, linked to an intercepted checkout
		// (link.go).
		if to, ok, lerr := s.linked(ctx, sid); lerr != nil {
			return Record{}, lerr
		} else if ok {
			r, err = s.load(ctx, to)
		}
	}
	if err != nil {
		if errors.Is(err, screening.ErrNotFound) {
			return Record{}, fmt.Errorf("order %s: %w", id, screening.ErrNotFound)
		}
		return Record{}, err
	}
	if !a.permits(r) {
		return Record{}, fmt.Errorf("order %s: %w", id, screening.ErrNotFound)
	}
	return r, nil
}

// Get returns the answer of the order a names by id (a screening id, or an
// order_id; see Access), or an error wrapping ErrNotFound, also for an
// order a may not see.
func (s *Service) Get(ctx context.Context, a Access, id string) (Result, error) {
	r, err := s.find(ctx, a, id)
	if err != nil {
		return Result{}, err
	}
	res := r.Answer()
	if r.Owner == CheckoutOwner && !a.Officer && !screening.IsScreeningID(id) {
		// A storefront reads a checkout by an order id only through its
		// link (link.go): the answer is about the order it asked for.
		res.OrderID = id
	}
	return res, nil
}

// MaxTimelinePage bounds one page of a timeline.
const MaxTimelinePage = 1000

// Timeline returns an order's answer and up to limit lines of its history
// from offset (0: the oldest), oldest first, and the offset of the next
// page (-1: none). The timeline is never trimmed; it expires with the
// record.
func (s *Service) Timeline(ctx context.Context, a Access, id string, offset, limit int) (Result, []TimelineEntry, int, error) {
	if offset < 0 || limit < 1 || limit > MaxTimelinePage {
		return Result{}, nil, 0, &screening.FieldError{Field: "limit", Problem: "offset must be 0 or more, limit 1 to " + strconv.Itoa(MaxTimelinePage)}
	}
	r, err := s.find(ctx, a, id)
	if err != nil {
		return Result{}, nil, 0, err
	}
	// One more than asked says whether there is a next page.
	list, err := s.rdb.LRange(ctx, s.timelineKey(r.ScreeningID), int64(offset), int64(offset+limit)).Result()
	if err != nil {
		return Result{}, nil, 0, unavailable("reading timeline of order "+r.ScreeningID, err)
	}
	next := -1
	if len(list) > limit {
		list, next = list[:limit], offset+limit
	}
	out := make([]TimelineEntry, 0, len(list))
	for _, raw := range list {
		var e TimelineEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return Result{}, nil, 0, fmt.Errorf("decoding timeline of order %s: %w", r.ScreeningID, err)
		}
		out = append(out, e)
	}
	return r.Answer(), out, next, nil
}

// maxAttempts bounds the compare-and-set retries of one change: each retry
// means another change committed meanwhile, so a handful is plenty.
const maxAttempts = 8

// apply runs transition on the current record of sid and commits it,
// deciding again on the new version when another change won the race. It
// returns the committed change, or the transition's error (ErrNoChange,
// a conflict) on the record as it then is.
func (s *Service) apply(ctx context.Context, r Record, action string, transition func(Record) (Change, []pending, error)) (Change, error) {
	for range maxAttempts {
		c, extra, err := transition(r)
		if err != nil {
			return Change{}, err
		}
		extra = append(extra, clearedMark(r, c)...)
		st, err := s.commit(ctx, &r, c, "", action, extra...)
		if err != nil {
			return Change{}, err
		}
		if st == nil {
			return c, nil
		}
		r = st.record
	}
	return Change{}, fmt.Errorf("order %s changed %d times during one change, try again: %w", r.ScreeningID, maxAttempts, screening.ErrConflict)
}

// Review records an officer's manual review of an order and returns the
// order's new answer. Only a held order whose manual_review is pending can
// be reviewed; any other is an error wrapping ErrConflict (reviewing twice
// is one). Two officers reviewing at once: one wins, the other gets
// ErrConflict, through the version check.
func (s *Service) Review(ctx context.Context, a Access, id string, rv ManualReview, officer string) (Result, error) {
	if err := validateReview(&rv); err != nil {
		return Result{}, err
	}
	r, err := s.find(ctx, a, id)
	if err != nil {
		return Result{}, err
	}
	c, err := s.apply(ctx, r, "order.reviewed", func(r Record) (Change, []pending, error) {
		c, err := Reviewed(r, rv, officer, s.now())
		return c, nil, err
	})
	if err != nil {
		return Result{}, err
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "order reviewed",
		slog.String("screening_id", r.ScreeningID), slog.String("decision", string(rv.Decision)),
		slog.String("officer", officer), slog.String("status", string(c.Next.Status)))
	return c.Next.Answer(), nil
}

// EmailVerified records that owner's account verified email: the account
// is marked verified (later orders skip email verification), and every held
// order of that account waiting on email verification with that email gets
// the requirement done (clearing those with nothing else pending), each
// through the one commit path, with event email.verified (once) and
// order.cleared as they clear. An empty accountID is the account of the
// orders that came without one and with this email (see emailRef).
// Idempotent. actor is who did it.
func (s *Service) EmailVerified(ctx context.Context, owner, accountID, email, actor string) error {
	if !Owner(owner).valid() || email == "" {
		return fmt.Errorf("email verified: owner and email are required: %w", screening.ErrInvalidInput)
	}
	now := s.now()
	want := s.emailHash(email)
	ref := refOf(Owner(owner), accountID, want)
	if err := s.markVerified(ctx, ref, want, actor, now); err != nil {
		return err
	}
	return s.eachHeld(ctx, ref, "order.requirement_done", func(r Record) (Change, error) {
		if r.EmailHash != want {
			// Another address of the account: not verified by this one.
			return Change{}, ErrNoChange
		}
		return Complete(r, ReqEmail, actor, s.now())
	})
}

// verifiedField is the account key's field recording that the account
// verified one email address (by its keyed hash). Verification is per
// address, not per account: an account that verified one address and then
// orders with another (a stranger's) is asked again.
func verifiedField(emailHash string) string { return "verified:" + emailHash }

// verifyScript marks an account's email address verified and, the first
// time only, appends email.verified and its audit entry to the account's
// shard's pending stream, in one step; the account's key lives as long as
// an order (screening.order_retention) after its last change. KEYS:
// account, pending stream. ARGV: time, retention (ms), the address's
// verified field, then the field and value pairs of the pending entry
// (workFields).
var verifyScript = redis.NewScript(`
local new = redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if new == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
return 1
`)

func (s *Service) markVerified(ctx context.Context, ref, emailHash, actor string, now time.Time) error {
	data, _ := json.Marshal(map[string]string{"account": ref})
	args, err := appendWork([]any{now.UTC().Format(time.RFC3339Nano), s.retention.Milliseconds(), verifiedField(emailHash)}, []pending{
		{kindEvent, pendingEvent{Type: events.EmailVerified, Time: now.UTC(), Data: data}},
		{kindAudit, AuditEntry{ID: "email.verified/" + ref + "/" + emailHash, Time: now.UTC(), Actor: actor, Action: events.EmailVerified, Account: ref}},
	})
	if err != nil {
		return fmt.Errorf("account %s: %w", ref, err)
	}
	err = verifyScript.Run(ctx, s.rdb, []string{s.accountKey(ref), s.pendingKey(shardOf(ref))}, args...).Err()
	if err != nil {
		return unavailable("marking account "+ref+" verified", err)
	}
	return nil
}
