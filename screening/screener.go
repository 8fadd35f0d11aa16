package screening

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
)

// IPInfo is what the GeoIP databases say about an address. Fields of a
// database that is not configured stay zero.
type IPInfo struct {
	Country           string
	RegisteredCountry string
	ASN               uint32
	ASOrg             string
	Anonymous         bool
	VPN               bool
	Hosting           bool
	Tor               bool
	PublicProxy       bool
	ResidentialProxy  bool
}

// IPLocator looks an address up in the GeoIP databases. The gateway adapts
// geoblock's reader to it, so there is one copy of the databases.
type IPLocator interface {
	LocateIP(ctx context.Context, ip netip.Addr) (IPInfo, error)
}

// GeoPolicy says whether a country is blocked (geoblock's EU/EEA policy).
type GeoPolicy interface {
	IsBlockedCountry(code string) bool
}

// VelocityRecorder counts an order in the sliding windows and returns the
// counters after counting it (screening/velocity).
type VelocityRecorder interface {
	Record(ctx context.Context, now time.Time, o velocity.Order) (velocity.Counts, error)
}

// BlocklistChecker looks an order's identifiers up in the blocklists
// (screening/blocklist).
type BlocklistChecker interface {
	Check(ctx context.Context, q blocklist.Query) ([]blocklist.Hit, error)
}

// velocityQueuer and blocklistQueuer are the pipelined forms of
// VelocityRecorder and BlocklistChecker (velocity's *Counter and
// blocklist's *List have both): with them and Deps.Redis, the Screener
// sends the blocklist lookup and the velocity update in one pipeline, one
// network round trip.
type velocityQueuer interface {
	QueueRecord(ctx context.Context, pipe redis.Pipeliner, now time.Time, o velocity.Order) func(context.Context) (velocity.Counts, error)
}

type blocklistQueuer interface {
	QueueCheck(ctx context.Context, pipe redis.Pipeliner, q blocklist.Query) func(context.Context) ([]blocklist.Hit, error)
}

// MinFraudScorer scores a transaction (screening/minfraud's *Client).
type MinFraudScorer interface {
	Score(ctx context.Context, req minfraud.Request) (*minfraud.Response, error)
}

// Deps are the Screener's collaborators.
type Deps struct {
	Locator   IPLocator        // required
	Policy    GeoPolicy        // required
	Velocity  VelocityRecorder // required
	Blocklist BlocklistChecker // required
	// MinFraud is nil when minFraud is not configured (minfraud.account_id
	// empty): minfraud_enabled is then false and no rule waits for it.
	MinFraud MinFraudScorer
	// Redis, when set and Velocity and Blocklist can queue their commands
	// on a pipeline, fuses their two round trips into one, bounded by
	// screening.velocity.timeout.
	Redis redis.UniversalClient
}

// Decision is the screening result of one order.
type Decision struct {
	Outcome Outcome
	Score   int
	// Reasons lists every rule that fired, in rules-file order.
	Reasons []Reason
	// Fired names the rules that fired.
	Fired []string
	// Signals are the facts the rules saw.
	Signals Signals
	// MinFraudID is minFraud's id for the scoring call ("" when minFraud
	// did not answer); Report Transactions needs it.
	MinFraudID string
}

// Screener scores orders. It is safe for concurrent use.
type Screener struct {
	locator   IPLocator
	policy    GeoPolicy
	velocity  VelocityRecorder
	blocklist BlocklistChecker
	minfraud  MinFraudScorer
	// rdb, vq and bq are set when the Redis round trip is fused.
	rdb          redis.UniversalClient
	vq           velocityQueuer
	bq           blocklistQueuer
	redisTimeout time.Duration
	emailRules   ident.EmailRules
	rules        *Rules
	emails       *EmailDomains
	logger       *slog.Logger
	m            *metrics
}

// New builds a Screener: it compiles the rules (a bad rule is an error
// naming it) and loads the email domain lists. reg may be nil (no metrics
// registered, as in tests).
func New(cfg Config, deps Deps, logger *slog.Logger, reg prometheus.Registerer) (*Screener, error) {
	var errs []error
	if deps.Locator == nil {
		errs = append(errs, errors.New("no IP locator"))
	}
	if deps.Policy == nil {
		errs = append(errs, errors.New("no geo policy"))
	}
	if deps.Velocity == nil {
		errs = append(errs, errors.New("no velocity recorder"))
	}
	if deps.Blocklist == nil {
		errs = append(errs, errors.New("no blocklist"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	rules, err := LoadRules(cfg.RulesFile, cfg.ReviewAt, cfg.RejectAt)
	if err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	emailRules, err := cfg.EmailRules()
	if err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	emails, err := LoadEmailDomains(cfg.DisposableDomainsFile, cfg.FreeDomainsFile)
	if err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// velocity's *Counter lists its counters: a rule reading one that does
	// not exist (a typo, a window not configured) stops start-up.
	if n, ok := deps.Velocity.(interface{ Names() []string }); ok {
		if err := rules.CheckVelocityNames(n.Names()); err != nil {
			return nil, fmt.Errorf("building screener: %w", err)
		}
	}
	m, err := newMetrics(reg, rules.Names())
	if err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	s := &Screener{
		locator:      deps.Locator,
		policy:       deps.Policy,
		velocity:     deps.Velocity,
		blocklist:    deps.Blocklist,
		minfraud:     deps.MinFraud,
		redisTimeout: cfg.Velocity.Timeout,
		emailRules:   emailRules,
		rules:        rules,
		emails:       emails,
		logger:       logger,
		m:            m,
	}
	if s.redisTimeout <= 0 {
		s.redisTimeout = velocity.DefaultTimeout
	}
	vq, vok := deps.Velocity.(velocityQueuer)
	bq, bok := deps.Blocklist.(blocklistQueuer)
	if deps.Redis != nil && vok && bok {
		s.rdb, s.vq, s.bq = deps.Redis, vq, bq
	}
	return s, nil
}

// mfResult is the outcome of the minFraud call.
type mfResult struct {
	resp *minfraud.Response
	err  error
}

// redisFacts is what one Redis round trip tells about an order.
type redisFacts struct {
	hits   []blocklist.Hit
	counts velocity.Counts
}

// Screen scores a normalized order (DecodeOrder and MapOrder normalize) at
// time now. The IP is located first (in process); then minFraud is called
// in parallel with the Redis round trip (blocklists and velocity counters).
// A Redis failure returns an error wrapping ErrUnavailable: no decision. A
// minFraud failure is not an error: the order is scored with
// minfraud_available=false, which the default rules turn into a review.
func (s *Screener) Screen(ctx context.Context, o Order, now time.Time) (Decision, error) {
	start := time.Now()
	ip, err := netip.ParseAddr(o.IP)
	if err != nil {
		return Decision{}, fieldErr("ip", "not an IPv4 or IPv6 address")
	}
	ip = ip.Unmap()

	var mfc chan mfResult
	if s.minfraud != nil {
		mfc = make(chan mfResult, 1) // buffered: the goroutine never blocks
		mfCtx, cancel := context.WithCancel(ctx)
		defer cancel() // an early return (Redis down) stops the call
		req := minFraudRequest(&o, ip, now)
		go func() {
			resp, err := s.minfraud.Score(mfCtx, req)
			mfc <- mfResult{resp, err}
		}()
	}

	sig := s.localSignals(ctx, &o, ip)

	facts, _, err := s.redisRoundTrip(ctx, &o, ip, now, nil)
	if err != nil {
		s.m.errors.WithLabelValues("redis").Inc()
		return Decision{}, fmt.Errorf("screening order %s: %w: %w", o.OrderID, ErrUnavailable, err)
	}
	applyRedisFacts(&sig, facts)

	var mf *mfResult
	if mfc != nil {
		r := <-mfc
		mf = &r
	}
	return s.decide(ctx, &o, &sig, mf, start, true), nil
}

// Guard is a caller's own look-up sent in the screening round trip, so
// that a caller that stores what it screens (the orders service) answers a
// replay without a second round trip and without counting the order twice.
// Screening knows nothing of what the look-up means.
type Guard struct {
	// Key, when it exists, makes the velocity script count nothing
	// (velocity.Order.Unless): the order is stored already.
	Key string
	// Queue adds the caller's reads to the pipeline.
	Queue func(ctx context.Context, pipe redis.Pipeliner)
	// Stop is called after the pipeline ran: true means the caller has
	// its answer (the order is stored), and nothing is scored.
	Stop func() (bool, error)
	// Signals, when set, adds the caller's facts read by Queue (the
	// account's standing) to the signals before the rules run.
	Signals func(*Signals)
	// Logged says the caller logs the decision itself, in its own
	// "order screened" line with what it did with the order (orders adds
	// the screening id and the status it stored): no line here, so that
	// an order costs one log line, not two.
	Logged bool
}

// ScreenGuarded is Screen with the caller's look-up g in the same Redis
// round trip (needs Deps.Redis). When g.Stop says so it returns stopped
// true and no decision: nothing is counted, minFraud is not called, no
// rule runs. Otherwise it scores the order as Screen does, except that
// minFraud is called after the round trip rather than during it, so that
// a replayed order never costs a minFraud query (it costs one Redis round
// trip of latency, well under a millisecond on a LAN, against minFraud's
// tens).
func (s *Screener) ScreenGuarded(ctx context.Context, o Order, now time.Time, g Guard) (d Decision, stopped bool, err error) {
	start := time.Now()
	ip, err := netip.ParseAddr(o.IP)
	if err != nil {
		return Decision{}, false, fieldErr("ip", "not an IPv4 or IPv6 address")
	}
	ip = ip.Unmap()

	facts, stopped, err := s.redisRoundTrip(ctx, &o, ip, now, &g)
	if err != nil {
		s.m.errors.WithLabelValues("redis").Inc()
		return Decision{}, false, fmt.Errorf("screening order %s: %w: %w", o.OrderID, ErrUnavailable, err)
	}
	if stopped {
		return Decision{}, true, nil
	}
	sig := s.localSignals(ctx, &o, ip)
	applyRedisFacts(&sig, facts)
	if g.Signals != nil {
		g.Signals(&sig)
	}

	var mf *mfResult
	if s.minfraud != nil {
		resp, err := s.minfraud.Score(ctx, minFraudRequest(&o, ip, now))
		mf = &mfResult{resp, err}
	}
	return s.decide(ctx, &o, &sig, mf, start, !g.Logged), false, nil
}

// decide applies minFraud's answer (mf is nil when minFraud is not
// configured), evaluates the rules and records the outcome; log says it
// also logs it (see Guard.Logged).
func (s *Screener) decide(ctx context.Context, o *Order, sig *Signals, mf *mfResult, start time.Time, log bool) Decision {
	var minFraudID string
	if mf != nil {
		sig.MinFraudEnabled = true
		if mf.err != nil {
			// The minfraud client has logged the failure itself (its
			// cause, status, MaxMind's code); this line says what it did
			// to the order, which needs an operator's eye.
			s.m.minfraudUnavailable.Inc()
			s.logger.LogAttrs(ctx, slog.LevelError, "minfraud unavailable, order goes to review",
				slog.String("order_id", o.OrderID), slog.String("error", mf.err.Error()))
		} else {
			applyMinFraud(sig, mf.resp)
			minFraudID = mf.resp.ID
		}
	}

	v := s.rules.Evaluate(sig)
	for _, err := range v.Errors {
		s.m.ruleErrors.Inc()
		s.logger.LogAttrs(ctx, slog.LevelError, "rule failed at run time",
			slog.String("order_id", o.OrderID), slog.String("error", err.Error()))
	}
	for _, name := range v.Fired {
		s.m.ruleHits.WithLabelValues(name).Inc()
	}
	s.m.decisions.WithLabelValues(string(v.Outcome)).Inc()
	s.m.duration.Observe(time.Since(start).Seconds())
	// order_id comes from the context (Orders.Submit and the API put it
	// there), so it is not repeated here.
	if log {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "order screened",
			slog.String("decision", string(v.Outcome)),
			slog.Int("score", v.Score), slog.Any("rules", v.Fired))
	}
	return Decision{
		Outcome:    v.Outcome,
		Score:      v.Score,
		Reasons:    v.Reasons,
		Fired:      v.Fired,
		Signals:    *sig,
		MinFraudID: minFraudID,
	}
}

// localSignals computes what needs no network: order facts, email lists,
// GeoIP and the geo policy.
func (s *Screener) localSignals(ctx context.Context, o *Order, ip netip.Addr) Signals {
	sig := Signals{
		IP:             ip.String(),
		BillingCountry: o.Billing.Country,
		Amount:         o.Amount.Float(),
		Currency:       o.Currency,
		ItemCount:      len(o.Items),
		HasCard:        o.Payment.CardBIN != "" && o.Payment.CardLast4 != "",
		HasAccountID:   o.Account.ID != "",
	}
	for _, it := range o.Items {
		sig.SKUs = append(sig.SKUs, it.SKU)
		if it.Category != "" && !slices.Contains(sig.ItemCategories, it.Category) {
			sig.ItemCategories = append(sig.ItemCategories, it.Category)
		}
	}
	ec := s.emails.Check(o.Account.Email)
	sig.EmailDomain = ec.Domain
	sig.EmailSyntaxOK = ec.SyntaxOK
	sig.EmailDisposable = ec.Disposable
	sig.EmailFree = ec.Free

	info, err := s.locator.LocateIP(ctx, ip)
	if err != nil {
		s.m.errors.WithLabelValues("geoip").Inc()
		s.logger.LogAttrs(ctx, slog.LevelWarn, "locating IP failed",
			slog.String("order_id", o.OrderID), slog.String("error", err.Error()))
	} else {
		sig.IPLocated = true
		sig.IPCountry = info.Country
		sig.IPRegisteredCountry = info.RegisteredCountry
		sig.ASN = info.ASN
		sig.ASNOrg = info.ASOrg
		sig.IPAnonymous = info.Anonymous
		sig.IPVPN = info.VPN
		sig.IPHosting = info.Hosting
		sig.IPTor = info.Tor
		sig.IPPublicProxy = info.PublicProxy
		sig.IPResidentialProxy = info.ResidentialProxy
	}
	// The same field geoblock's middleware judges (IPInfo.Country), so an
	// order by API is held to the rule a browser meets.
	sig.IPCountryBlocked = sig.IPCountry != "" && s.policy.IsBlockedCountry(sig.IPCountry)
	sig.BillingCountryBlocked = s.policy.IsBlockedCountry(sig.BillingCountry)
	sig.CountryMismatch = sig.IPCountry != "" && sig.BillingCountry != "" && sig.IPCountry != sig.BillingCountry
	return sig
}

// redisRoundTrip is the one place that talks to Redis while screening: the
// blocklist lookup and the velocity update, in one pipeline when the
// dependencies allow it (see Deps.Redis), else as two calls. rc, which needs
// the pipeline, adds the orders service's record look-up: when the record
// exists, its field values are returned instead of facts.
func (s *Screener) redisRoundTrip(ctx context.Context, o *Order, ip netip.Addr, now time.Time, g *Guard) (redisFacts, bool, error) {
	ids := identifiers(o, s.emailRules)
	q := blocklist.Query{
		IP: ip,
		// The blocklist applies the same email rules itself, and looks
		// up entries keyed by the older form too.
		Email:       ids.basicEmail,
		EmailDomain: ids.emailDomain,
		Account:     o.Account.ID,
		Card:        ids.card,
	}
	vo := velocity.Order{
		ID:         o.countingID(),
		IP:         ip,
		Email:      ids.email,
		OlderEmail: ids.olderEmail,
		Account:    o.Account.ID,
		Card:       ids.card,
		Address:    ids.address,
	}
	if s.rdb != nil {
		ctx, cancel := context.WithTimeout(ctx, s.redisTimeout)
		defer cancel()
		pipe := s.rdb.Pipeline()
		if g != nil {
			g.Queue(ctx, pipe)
			vo.Unless = g.Key
		}
		hitsOf := s.bq.QueueCheck(ctx, pipe, q)
		countsOf := s.vq.QueueRecord(ctx, pipe, now, vo)
		// Each queued command's error is read by its result function.
		_, _ = pipe.Exec(ctx)
		if g != nil {
			stop, err := g.Stop()
			if err != nil || stop {
				return redisFacts{}, stop, err
			}
		}
		hits, err := hitsOf(ctx)
		if err != nil {
			return redisFacts{}, false, fmt.Errorf("checking blocklists: %w", err)
		}
		counts, err := countsOf(ctx)
		if errors.Is(err, velocity.ErrSkipped) {
			// Stored by a concurrent submission between the look-up and
			// the count: read what it stored (a rare extra round trip).
			pipe := s.rdb.Pipeline()
			g.Queue(ctx, pipe)
			_, _ = pipe.Exec(ctx)
			stop, err := g.Stop()
			if err != nil {
				return redisFacts{}, false, err
			}
			if !stop {
				return redisFacts{}, false, errors.New("stored order vanished while screening")
			}
			return redisFacts{}, true, nil
		}
		if err != nil {
			return redisFacts{}, false, fmt.Errorf("recording velocity: %w", err)
		}
		return redisFacts{hits: hits, counts: counts}, false, nil
	}
	if g != nil {
		return redisFacts{}, false, errors.New("a guarded screening needs the fused round trip (Deps.Redis)")
	}
	hits, err := s.blocklist.Check(ctx, q)
	if err != nil {
		return redisFacts{}, false, fmt.Errorf("checking blocklists: %w", err)
	}
	counts, err := s.velocity.Record(ctx, now, vo)
	if err != nil {
		return redisFacts{}, false, fmt.Errorf("recording velocity: %w", err)
	}
	return redisFacts{hits: hits, counts: counts}, false, nil
}

// orderIDs are an order's identifiers in the canonical forms of
// screening/ident; an identifier that cannot be normalized is "" (not
// counted, not looked up) rather than an error: the order was validated,
// and ident's rules are stricter for some edge cases.
//
// email is the address under the email rules (the velocity key),
// olderEmail the form an earlier release keyed it by when that differs
// (ident.EmailRules.Forms), basicEmail NormalizeEmail's form.
type orderIDs struct {
	email, olderEmail, basicEmail, emailDomain, card, address string
}

func identifiers(o *Order, rules ident.EmailRules) orderIDs {
	var ids orderIDs
	if e, older, err := rules.Forms(o.Account.Email); err == nil {
		ids.email, ids.olderEmail, ids.basicEmail = e, older, cmp.Or(older, e)
		ids.emailDomain = e[strings.LastIndexByte(e, '@')+1:]
	}
	if o.Payment.CardBIN != "" && o.Payment.CardLast4 != "" {
		if c, err := ident.CardFingerprint(cardIIN(o.Payment.CardBIN), o.Payment.CardLast4); err == nil {
			ids.card = c
		}
	}
	if o.Billing.Address != "" {
		ids.address = ident.NormalizeAddress(o.Billing.Country, o.Billing.Postal, o.Billing.City, o.Billing.Address)
	}
	return ids
}

func applyRedisFacts(sig *Signals, f redisFacts) {
	for _, h := range f.hits {
		kind := string(h.Kind)
		if !slices.Contains(sig.BlocklistHits, kind) {
			sig.BlocklistHits = append(sig.BlocklistHits, kind)
		}
	}
	sig.Blocklisted = len(sig.BlocklistHits) > 0
	sig.Velocity = map[string]int64(f.counts)
	sig.FirstOrder = firstOrder(sig.Velocity, sig.HasAccountID)
}

// firstOrder: the account's (or, without an account id, the email's)
// largest order counter is at most 1, this order. With no such counter the
// answer is true: not knowing the history must not relax a policy keyed on
// first orders.
func firstOrder(counts map[string]int64, byAccount bool) bool {
	prefix := "email_"
	if byAccount {
		prefix = "account_"
	}
	var most int64
	for k, n := range counts {
		if strings.HasPrefix(k, prefix) && n > most {
			most = n
		}
	}
	return most <= 1
}

func applyMinFraud(sig *Signals, r *minfraud.Response) {
	sig.MinFraudAvailable = true
	sig.MinFraudRiskScore = r.RiskScore
	sig.MinFraudIPRisk = r.IPAddress.Risk
	sig.MinFraudDisposition = r.Disposition.Action
}
