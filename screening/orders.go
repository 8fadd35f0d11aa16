package screening

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
)

// Status is where an order stands.
type Status string

// Order statuses (PRODUCT.md §4 "Holds and clearing").
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

// Result is the answer of POST /api/v1/orders and GET /api/v1/orders/{id}.
type Result struct {
	// ScreeningID is the gateway's id of the order, unique across owners
	// (see Owner). Intercepted checkouts carry it to the storefront in
	// X-Screening-Id; every stored key and event of the order uses it.
	ScreeningID string `json:"screening_id"`
	// OrderID is the id the owner gave; unique only within its owner.
	OrderID string `json:"order_id"`
	// Owner is who submitted the order: "checkout" or "key:<API key name>".
	Owner        Owner             `json:"owner"`
	Status       Status            `json:"status"`
	Decision     Outcome           `json:"decision"`
	Score        int               `json:"score"`
	Reasons      []Reason          `json:"reasons"`
	Requirements Requirements      `json:"requirements"`
	Links        map[string]string `json:"links"`
	CreatedAt    time.Time         `json:"created_at"`
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
)

// Event is the body of POST /api/v1/orders/{id}/events.
type Event struct {
	Type   EventType `json:"type"`
	Reason string    `json:"reason"`
}

// TimelineEntry is one line of an order's history.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	// Type is "screened" for the screening itself, else an EventType.
	Type   string `json:"type"`
	Reason string `json:"reason,omitempty"`
	// Detail says what the gateway did about it.
	Detail string `json:"detail,omitempty"`
}

// OrderScreener scores an order (*Screener).
type OrderScreener interface {
	Screen(ctx context.Context, o Order, now time.Time) (Decision, error)
}

// EventAppender is the event outbox (internal/events's *Outbox).
type EventAppender interface {
	Append(ctx context.Context, e events.Event) (string, error)
}

// scriptOutbox is an outbox whose entries a Lua script can add itself
// (internal/events's *Outbox): Submit then stores an order and appends its
// creation event in one script, one round trip.
type scriptOutbox interface {
	EventAppender
	Key() string
	MaxLen() int64
	Fields(e events.Event) ([]string, error)
}

// recordScreener is an OrderScreener that can send the idempotency look-up
// in its own Redis round trip (*Screener with Deps.Redis; see
// Screener.screenUnlessStored).
type recordScreener interface {
	OrderScreener
	screenUnlessStored(ctx context.Context, o Order, now time.Time, rc recordCheck) (Decision, []any, error)
	roundTripClient() redis.UniversalClient
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

// OrderDeps are the Orders service's collaborators.
//
// Round trips. With a *Screener built with Deps.Redis on the same client as
// the orders service, Submit sends its idempotency look-up in the
// screening round trip. With an *events.Outbox on the same Redis and a
// *redis.Client (standalone or Sentinel), it stores the order and appends
// its creation event in one script. A new order is then two round trips,
// the screening pipeline and that script (plus minFraud's HTTP call), and a
// replayed one is one. On Cluster, where the event stream is in another
// slot than the order, storing and publishing stay three round trips.
type OrderDeps struct {
	Screener OrderScreener // required
	// Outbox is required. When it can be written by a script (see above)
	// it must be on the Redis of the orders service.
	Outbox    EventAppender
	Velocity  EventRecorder  // required
	Blocklist BlocklistAdder // required
	// MinFraud is nil when minFraud is not configured: nothing is
	// reported.
	MinFraud MinFraudReporter
}

// maxTimeline bounds an order's timeline (the newest entries are kept).
const maxTimeline = 200

// maxEventReason bounds an event's free-text reason.
const maxEventReason = 512

// Orders is the orders service: idempotent submission, lookup and events,
// stored in Redis. It is safe for concurrent use.
//
// Orders are stored under their screening id (see Owner and screeningID),
// never under the order_id alone, which is unique only within its owner.
// Keys (all of one order share the hash tag {screening id}, so they live in
// one Redis Cluster slot and one script can touch them):
//
//	<key_prefix>order:{SID}          hash: result (JSON, with the owner),
//	                                 fp (SHA-256 of the canonical order),
//	                                 private (JSON), emitted (creation
//	                                 event published), ev:<type>
//	                                 (once-only events seen)
//	<key_prefix>order:{SID}:timeline list of TimelineEntry JSON
//	<key_prefix>order:{SID}:emit     lease of the submission publishing
//	                                 the creation event (10 s at most),
//	                                 only where storing and publishing are
//	                                 separate steps (Cluster)
//
// The record and timeline expire after screening.order_retention.
type Orders struct {
	rdb       redis.UniversalClient
	screener  OrderScreener
	rs        recordScreener // set when the look-up rides the screening round trip
	so        scriptOutbox   // set when storing and publishing are one script
	outbox    EventAppender
	velocity  EventRecorder
	blocklist BlocklistAdder
	minfraud  MinFraudReporter
	hasher    *ident.Hasher // derives screening ids
	prefix    string
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger
	m         *ordersMetrics
}

// privateData is the personal data an order record keeps, and only what a
// later event needs: the account id and card BIN/last4 to blocklist after a
// chargeback, the IP and minFraud id for MaxMind's Report Transactions. No
// email, name, phone or address is kept here: the screening signals derived
// from them are in the velocity counters, as keyed hashes.
type privateData struct {
	AccountID  string `json:"account_id,omitempty"`
	CardBIN    string `json:"card_bin,omitempty"`
	CardLast4  string `json:"card_last4,omitempty"`
	IP         string `json:"ip"`
	MinFraudID string `json:"minfraud_id,omitempty"`
}

// NewOrders returns the orders service. now is the clock (time.Now in
// production). reg may be nil.
func NewOrders(cfg Config, rdb redis.UniversalClient, deps OrderDeps, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) (*Orders, error) {
	var errs []error
	if rdb == nil {
		errs = append(errs, errors.New("no Redis client"))
	}
	if deps.Screener == nil {
		errs = append(errs, errors.New("no screener"))
	}
	if deps.Outbox == nil {
		errs = append(errs, errors.New("no event outbox"))
	}
	if deps.Velocity == nil {
		errs = append(errs, errors.New("no velocity recorder"))
	}
	if deps.Blocklist == nil {
		errs = append(errs, errors.New("no blocklist"))
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newOrdersMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("building orders service: %w", err)
	}
	s := &Orders{
		rdb:       rdb,
		screener:  deps.Screener,
		outbox:    deps.Outbox,
		velocity:  deps.Velocity,
		blocklist: deps.Blocklist,
		minfraud:  deps.MinFraud,
		hasher:    hasher,
		prefix:    cfg.KeyPrefix,
		retention: cfg.OrderRetention,
		now:       now,
		logger:    logger,
		m:         m,
	}
	if rs, ok := deps.Screener.(recordScreener); ok && rs.roundTripClient() != nil && rs.roundTripClient() == rdb {
		s.rs = rs
	}
	// One script may touch keys of several Cluster slots only off Cluster.
	if so, ok := deps.Outbox.(scriptOutbox); ok {
		if _, standalone := rdb.(*redis.Client); standalone {
			s.so = so
		}
	}
	return s, nil
}

// The keys of an order, named by its screening id (sid).
func (s *Orders) recordKey(sid string) string   { return s.prefix + "order:{" + sid + "}" }
func (s *Orders) timelineKey(sid string) string { return s.recordKey(sid) + ":timeline" }
func (s *Orders) leaseKey(sid string) string    { return s.recordKey(sid) + ":emit" }

// createScript stores a new order unless one exists (SET NX semantics for a
// hash plus its timeline) and takes the publication lease (KEYS[3], see
// emitCreated) for its caller: it returns 1 when it created the record,
// else the existing record's fp and result, so a lost race costs no extra
// round trip.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'fp', 'result')
end
redis.call('HSET', KEYS[1], 'result', ARGV[2], 'fp', ARGV[3], 'private', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
return 1
`)

// claimScript takes the publication lease of an order (KEYS[2]) unless its
// creation event is already published (the record's emitted field): the
// check and the claim are atomic, so a submission that read the record
// before the event went out cannot publish it a second time.
var claimScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'emitted') == 1 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
`)

// createPublishScript stores a new order and appends its creation event to
// the outbox stream in one step: both happen or neither, so the record is
// marked emitted at once and needs no lease. It returns 1 when it created
// the record, else the existing record's fp and result, like createScript.
// The stream's key is in another Cluster slot than the order's, so this
// runs only on a standalone server (or Sentinel's primary).
//
// KEYS: record, timeline, stream. ARGV: retention (ms), result, fp,
// private, timeline entry, stream max length (0: untrimmed), then the
// entry's field-value pairs (events.Outbox.Fields).
//
// XADD is the first write: Redis refuses a script for lack of memory only
// at its first write, and XADD is the only write that can fail otherwise
// (a key of another type), so a failed call leaves nothing behind.
var createPublishScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'fp', 'result')
end
local xadd = {'XADD', KEYS[3]}
if ARGV[6] ~= '0' then
  xadd[3], xadd[4], xadd[5] = 'MAXLEN', '~', ARGV[6]
end
xadd[#xadd + 1] = '*'
for i = 7, #ARGV do xadd[#xadd + 1] = ARGV[i] end
redis.call(unpack(xadd))
redis.call('HSET', KEYS[1], 'result', ARGV[2], 'fp', ARGV[3], 'private', ARGV[4], 'emitted', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
`)

// emitLease is how long one submission may take to publish an order's
// creation event before a retry may publish it instead.
const emitLease = 10 * time.Second

// eventScript appends a timeline entry to an existing order and, for a
// once-only event (ARGV[1] names its flag), marks it seen. It returns -1
// when the order does not exist, 0 when the once-only event was already
// recorded, 1 otherwise.
var eventScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] ~= '' then
  if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[4]) == 0 then return 0 end
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return 1
`)

// Fingerprint is the SHA-256 (hex) of the order's canonical JSON: the
// normalized order (Order.Normalize puts every value in one spelling)
// re-marshaled with its items sorted, so key order, spacing, "12.00" vs
// 12.0, "us" vs "US" and the order in which a cart lists its items do not
// make two submissions of one order differ. The items are a multiset: the
// same lines in another order are the same purchase, while a line
// repeated is not one line (quantities are not merged).
func Fingerprint(o Order) (string, error) {
	if len(o.Items) > 1 {
		o.Items = slices.Clone(o.Items)
		slices.SortFunc(o.Items, func(a, b Item) int {
			return cmp.Or(
				strings.Compare(a.SKU, b.SKU),
				strings.Compare(a.Category, b.Category),
				strings.Compare(string(a.Price), string(b.Price)),
				cmp.Compare(a.Quantity, b.Quantity),
			)
		})
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encoding order: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// recordFields are the fields of an order record Submit reads to answer a
// replay.
var recordFields = []string{"fp", "result", "emitted"}

// Submit screens and stores an order of owner, once. (owner, order_id) is
// the idempotency key: the same order again returns the stored Result
// without screening it again (counters are not incremented twice); a
// different order with the same key is an error wrapping ErrConflict. The
// same order_id under another owner is another order (see Owner). "The
// same order" is decided on canonical values (Fingerprint). A Redis
// failure is an error wrapping ErrUnavailable and leaves nothing half-done
// that a retry would not finish: velocity counts are keyed by the
// screening id, the record is created atomically, and the creation event
// is either appended with it (standalone) or, if its publication failed,
// published by the retry. OrderDeps says how many round trips this takes.
func (s *Orders) Submit(ctx context.Context, owner Owner, o Order) (Result, error) {
	if !owner.valid() {
		return Result{}, fmt.Errorf("submitting order: owner %q: %w", owner, ErrInvalidInput)
	}
	if err := o.Normalize(); err != nil {
		return Result{}, err
	}
	fp, err := Fingerprint(o)
	if err != nil {
		return Result{}, err
	}
	o.ScreeningID = screeningID(s.hasher, owner, o.OrderID)
	key := s.recordKey(o.ScreeningID)

	var d Decision
	now := s.now()
	if s.rs != nil {
		var vals []any
		d, vals, err = s.rs.screenUnlessStored(ctx, o, now, recordCheck{key: key, fields: recordFields})
		if err != nil {
			return Result{}, err
		}
		if vals != nil {
			return s.existing(ctx, o.ScreeningID, fp, vals[0], vals[1], vals[2] != nil)
		}
	} else {
		// Fast path for retries: no screening, no counting.
		vals, err := s.rdb.HMGet(ctx, key, recordFields...).Result()
		if err != nil {
			return Result{}, unavailable("reading order "+o.ScreeningID, err)
		}
		if vals[0] != nil {
			return s.existing(ctx, o.ScreeningID, fp, vals[0], vals[1], vals[2] != nil)
		}
		if d, err = s.screener.Screen(ctx, o, now); err != nil {
			return Result{}, err
		}
	}
	return s.create(ctx, owner, o, fp, d, now)
}

// create stores a screened order and publishes its creation event.
func (s *Orders) create(ctx context.Context, owner Owner, o Order, fp string, d Decision, now time.Time) (Result, error) {
	sid := o.ScreeningID
	key := s.recordKey(sid)
	res := newResult(sid, owner, o.OrderID, d, now)
	priv := privateData{
		AccountID:  o.Account.ID,
		CardBIN:    cardIIN(o.Payment.CardBIN), // blocklisted as BIN:last4 after a chargeback
		CardLast4:  o.Payment.CardLast4,
		IP:         o.IP,
		MinFraudID: d.MinFraudID,
	}
	entry := TimelineEntry{Time: now, Type: "screened",
		Detail: fmt.Sprintf("decision %s, score %d, status %s", res.Decision, res.Score, res.Status)}
	resJSON, _ := json.Marshal(res)
	privJSON, _ := json.Marshal(priv)
	entryJSON, _ := json.Marshal(entry)
	ev := creationEvent(res, resJSON)

	var out any
	var err error
	if s.so != nil {
		fields, ferr := s.so.Fields(ev)
		if ferr != nil {
			return Result{}, fmt.Errorf("storing order %s: %w", sid, ferr)
		}
		args := make([]any, 0, 6+len(fields))
		args = append(args, s.retention.Milliseconds(), resJSON, fp, privJSON, entryJSON, s.so.MaxLen())
		for _, f := range fields {
			args = append(args, f)
		}
		out, err = createPublishScript.Run(ctx, s.rdb, []string{key, s.timelineKey(sid), s.so.Key()}, args...).Result()
	} else {
		out, err = createScript.Run(ctx, s.rdb, []string{key, s.timelineKey(sid), s.leaseKey(sid)},
			s.retention.Milliseconds(), resJSON, fp, privJSON, entryJSON, emitLease.Milliseconds()).Result()
	}
	if err != nil {
		return Result{}, unavailable("storing order "+sid, err)
	}
	if existing, ok := out.([]any); ok && len(existing) == 2 {
		// A concurrent submission of the same id won.
		return s.existing(ctx, sid, fp, existing[0], existing[1], true)
	}
	if s.so == nil {
		if err := s.publishCreated(ctx, res, ev); err != nil {
			return Result{}, err
		}
	}
	s.m.submissions.WithLabelValues("created").Inc()
	return res, nil
}

// creationEvent is order.held or order.rejected for a new order; its data
// is the Result (resJSON, its JSON).
func creationEvent(res Result, resJSON []byte) events.Event {
	typ := events.OrderHeld
	if res.Status == StatusRejected {
		typ = events.OrderRejected
	}
	return events.Event{Type: typ, Data: json.RawMessage(resJSON), Time: res.CreatedAt}
}

// existing answers a submission whose screening id sid is already stored.
func (s *Orders) existing(ctx context.Context, sid, fp string, storedFP, storedResult any, emitted bool) (Result, error) {
	if sfp, _ := storedFP.(string); sfp != fp {
		s.m.submissions.WithLabelValues("conflict").Inc()
		return Result{}, fmt.Errorf("order %s was already submitted with a different body: %w", sid, ErrConflict)
	}
	res, err := decodeResult(sid, storedResult)
	if err != nil {
		return Result{}, err
	}
	if !emitted {
		// The first submission stored the order but could not publish
		// its event (Redis failed in between): finish its work.
		if err := s.emitCreated(ctx, res); err != nil {
			return Result{}, err
		}
	}
	s.m.submissions.WithLabelValues("replayed").Inc()
	return res, nil
}

// emitCreated publishes the creation event of an order found stored but not
// yet published: its first submission failed after storing it, or is
// publishing it right now. The lease (claimScript) lets one submission at a
// time publish, so concurrent retries do not publish twice; a holder that
// died leaves the lease to expire, and a later retry publishes. Delivery
// stays at least once: a failure after the append and before the mark means
// a retry appends again.
func (s *Orders) emitCreated(ctx context.Context, res Result) error {
	ok, err := claimScript.Run(ctx, s.rdb, []string{s.recordKey(res.ScreeningID), s.leaseKey(res.ScreeningID)},
		emitLease.Milliseconds()).Int()
	if err != nil {
		return unavailable("publishing order "+res.ScreeningID, err)
	}
	if ok == 0 {
		return nil // published meanwhile, or another submission publishes
	}
	resJSON, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encoding order %s: %w", res.ScreeningID, err)
	}
	return s.publishCreated(ctx, res, creationEvent(res, resJSON))
}

// publishCreated appends the creation event ev of res, then marks the order
// published and drops the lease; the caller holds the lease.
func (s *Orders) publishCreated(ctx context.Context, res Result, ev events.Event) error {
	typ := ev.Type
	if _, err := s.outbox.Append(ctx, ev); err != nil {
		// Let the storefront's retry publish at once; if this fails too
		// the lease expires on its own.
		_ = s.rdb.Del(context.WithoutCancel(ctx), s.leaseKey(res.ScreeningID)).Err()
		return unavailable("publishing "+typ+" for order "+res.ScreeningID, err)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.recordKey(res.ScreeningID), "emitted", "1")
	pipe.Del(ctx, s.leaseKey(res.ScreeningID))
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("marking order "+res.ScreeningID+" published", err)
	}
	return nil
}

// newResult turns a decision into the stored answer. Until holds are built
// (the holds issue), the requirements are fixed: email verification is
// always pending, manual review pending only on review, KYC not required;
// links stay empty.
func newResult(sid string, owner Owner, orderID string, d Decision, now time.Time) Result {
	res := Result{
		ScreeningID: sid,
		OrderID:     orderID,
		Owner:       owner,
		Decision:    d.Outcome,
		Score:       d.Score,
		Reasons:     d.Reasons,
		Links:       map[string]string{},
		CreatedAt:   now.UTC(),
	}
	if res.Reasons == nil {
		res.Reasons = []Reason{}
	}
	if d.Outcome == Reject {
		res.Status = StatusRejected
		res.Requirements = Requirements{EmailVerification: NotRequired, KYC: NotRequired, ManualReview: NotRequired}
		return res
	}
	res.Status = StatusHeld
	res.Requirements = Requirements{EmailVerification: Pending, KYC: NotRequired, ManualReview: NotRequired}
	if d.Outcome == Review {
		res.Requirements.ManualReview = Pending
	}
	return res
}

func decodeResult(id string, v any) (Result, error) {
	s, _ := v.(string)
	var res Result
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		// Not a Redis outage: the stored data is not ours or was damaged.
		return Result{}, fmt.Errorf("decoding stored order %s: %w", id, err)
	}
	return res, nil
}

// Get returns the stored answer of the order a names by id (a screening
// id, or an order_id; see Access), or an error wrapping ErrNotFound, also
// for an order a may not see.
func (s *Orders) Get(ctx context.Context, a Access, id string) (Result, error) {
	sid, err := s.resolve(a, id)
	if err != nil {
		return Result{}, err
	}
	v, err := s.rdb.HMGet(ctx, s.recordKey(sid), "result").Result()
	if err != nil {
		return Result{}, unavailable("reading order "+sid, err)
	}
	return visible(a, id, sid, v[0])
}

// visible decodes a stored result (nil: none stored) and hides it from a
// caller that may not see it: both are "not found", so a storefront cannot
// learn that another key's order exists.
func visible(a Access, id, sid string, raw any) (Result, error) {
	if raw == nil {
		return Result{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	res, err := decodeResult(sid, raw)
	if err != nil {
		return Result{}, err
	}
	if !a.permits(res) {
		return Result{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return res, nil
}

// Timeline returns an order's answer and its history, oldest first; a and
// id are as for Get.
func (s *Orders) Timeline(ctx context.Context, a Access, id string) (Result, []TimelineEntry, error) {
	sid, err := s.resolve(a, id)
	if err != nil {
		return Result{}, nil, err
	}
	pipe := s.rdb.Pipeline()
	rec := pipe.HMGet(ctx, s.recordKey(sid), "result")
	list := pipe.LRange(ctx, s.timelineKey(sid), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return Result{}, nil, unavailable("reading timeline of order "+sid, err)
	}
	res, err := visible(a, id, sid, rec.Val()[0])
	if err != nil {
		return Result{}, nil, err
	}
	out := make([]TimelineEntry, 0, len(list.Val()))
	for _, raw := range list.Val() {
		var e TimelineEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return Result{}, nil, fmt.Errorf("decoding timeline of order %s: %w", sid, err)
		}
		out = append(out, e)
	}
	return res, out, nil
}

func validOrderID(id string) bool {
	if id == "" || len(id) > maxOrderID {
		return false
	}
	for _, c := range []byte(id) {
		if !isIDChar(c) {
			return false
		}
	}
	return true
}

// RecordEvent records an event the storefront reports on an order and acts
// on it:
//
//   - payment_failed, refund, chargeback feed the account's velocity
//     counters (when the order had an account id);
//   - chargeback blocklists the order's account and card and publishes
//     account.restricted;
//   - chargeback and fraud_confirmed are reported to minFraud's Report
//     Transactions API (tags chargeback and suspected_fraud), best effort:
//     a failure is logged, counted and noted on the timeline, and does not
//     fail the event, which is already recorded here;
//   - cancelled changes nothing but the timeline: the statuses of
//     PRODUCT.md have no "cancelled", the screening result stands, and the
//     holds work decides what a cancelled hold means.
//
// Every event goes to the order's timeline and to the outbox
// (order.<type>). refund, chargeback, fraud_confirmed and cancelled are
// recorded once per order: repeating one returns the current Result with
// no further effect. payment_failed is recorded each time (a customer may
// fail several times). The returned Result is the order's current one.
//
// The side effects (outbox events, account.restricted, the minFraud
// report) are at least once, not exactly once: two concurrent or retried
// deliveries of the same chargeback that both pass the check before either
// is recorded can each emit them. Consumers de-duplicate by order id and
// event type; nothing is ever lost.
//
// a and id name the order as for Get: a storefront reports events on its
// own orders and on intercepted checkouts (by screening id), never on
// another key's.
func (s *Orders) RecordEvent(ctx context.Context, a Access, id string, e Event) (Result, error) {
	if err := validateEvent(e); err != nil {
		return Result{}, err
	}
	sid, err := s.resolve(a, id)
	if err != nil {
		return Result{}, err
	}
	key := s.recordKey(sid)
	once := ""
	if e.Type != EventPaymentFailed {
		once = "ev:" + string(e.Type)
	}
	pipe := s.rdb.Pipeline()
	hm := pipe.HMGet(ctx, key, "result", "private")
	var seen *redis.BoolCmd
	if once != "" {
		seen = pipe.HExists(ctx, key, once)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Result{}, unavailable("reading order "+sid, err)
	}
	res, err := visible(a, id, sid, hm.Val()[0])
	if err != nil {
		return Result{}, err
	}
	if seen != nil && seen.Val() {
		s.m.events.WithLabelValues(string(e.Type), "repeated").Inc()
		return res, nil
	}
	var priv privateData
	if raw, _ := hm.Val()[1].(string); raw != "" {
		if err := json.Unmarshal([]byte(raw), &priv); err != nil {
			return Result{}, fmt.Errorf("decoding stored order %s: %w", sid, err)
		}
	}

	now := s.now()
	var did []string
	if kind, counted := velocityKind(e.Type); counted && priv.AccountID != "" {
		if _, err := s.velocity.RecordEvent(ctx, now, kind, priv.AccountID, sid); err != nil {
			return Result{}, unavailable("counting "+string(e.Type)+" of order "+sid, err)
		}
		did = append(did, "counted on the account")
	}
	if _, err := s.outbox.Append(ctx, events.Event{
		Type: "order." + string(e.Type),
		Data: map[string]string{"screening_id": sid, "order_id": res.OrderID, "owner": string(res.Owner), "type": string(e.Type), "reason": e.Reason},
		Time: now,
	}); err != nil {
		return Result{}, unavailable("publishing "+string(e.Type)+" of order "+sid, err)
	}
	if e.Type == EventChargeback {
		restricted, err := s.restrict(ctx, res, priv, now)
		if err != nil {
			return Result{}, err
		}
		did = append(did, restricted...)
	}
	if tag := reportTag(e.Type); tag != "" && s.minfraud != nil {
		did = append(did, s.report(ctx, sid, tag, e.Reason, priv))
	}

	entry, _ := json.Marshal(TimelineEntry{Time: now, Type: string(e.Type), Reason: e.Reason, Detail: strings.Join(did, "; ")})
	out, err := eventScript.Run(ctx, s.rdb, []string{key, s.timelineKey(sid)}, once, entry, maxTimeline, now.UTC().Format(time.RFC3339Nano)).Int()
	if err != nil {
		return Result{}, unavailable("recording "+string(e.Type)+" of order "+sid, err)
	}
	switch out {
	case -1:
		// The record expired between the read and now.
		return Result{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	case 0:
		s.m.events.WithLabelValues(string(e.Type), "repeated").Inc()
	default:
		s.m.events.WithLabelValues(string(e.Type), "recorded").Inc()
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "order event recorded",
		slog.String("screening_id", sid), slog.String("type", string(e.Type)))
	return res, nil
}

// restrict blocklists the account and card of a charged-back order and
// publishes account.restricted. An identifier the blocklist refuses as
// invalid is logged and skipped (retrying would not help); a Redis failure
// is an error, so the storefront's retry blocklists it.
func (s *Orders) restrict(ctx context.Context, res Result, priv privateData, now time.Time) ([]string, error) {
	var did []string
	id := res.ScreeningID
	reason := "chargeback on order " + res.OrderID + " (" + id + ")"
	add := func(kind blocklist.Kind, value, what string) error {
		_, err := s.blocklist.Add(ctx, blocklist.Entry{Kind: kind, Value: value, Reason: reason, AddedBy: "chargeback event", AddedAt: now})
		switch {
		case err == nil:
			did = append(did, what+" blocklisted")
		case errors.Is(err, blocklist.ErrInvalidInput):
			s.logger.LogAttrs(ctx, slog.LevelError, "cannot blocklist after chargeback",
				slog.String("screening_id", id), slog.String("kind", string(kind)), slog.String("error", err.Error()))
			did = append(did, what+" could not be blocklisted")
		default:
			return unavailable("blocklisting the "+what+" of order "+id, err)
		}
		return nil
	}
	if priv.AccountID != "" {
		if err := add(blocklist.KindAccount, priv.AccountID, "account"); err != nil {
			return nil, err
		}
	}
	if priv.CardBIN != "" && priv.CardLast4 != "" {
		if err := add(blocklist.KindCard, priv.CardBIN+":"+priv.CardLast4, "card"); err != nil {
			return nil, err
		}
	}
	if _, err := s.outbox.Append(ctx, events.Event{
		Type: events.AccountRestricted,
		Data: map[string]string{"account_id": priv.AccountID, "screening_id": id, "order_id": res.OrderID, "owner": string(res.Owner), "reason": "chargeback"},
		Time: now,
	}); err != nil {
		return nil, unavailable("publishing account.restricted for order "+id, err)
	}
	return did, nil
}

// report sends a Report Transactions call and says how it went. id is the
// screening id, the transaction id the order was scored under.
func (s *Orders) report(ctx context.Context, id, tag, reason string, priv privateData) string {
	r := minfraud.ReportRequest{Tag: tag, TransactionID: id, MinFraudID: priv.MinFraudID, Notes: reason}
	if ip, err := netip.ParseAddr(priv.IP); err == nil {
		r.IPAddress = ip
	}
	if err := s.minfraud.Report(ctx, r); err != nil {
		// The minfraud client logged the cause; say what it means here.
		s.m.reportFailures.Inc()
		s.logger.LogAttrs(ctx, slog.LevelError, "minfraud report failed, report it by hand",
			slog.String("screening_id", id), slog.String("tag", tag), slog.String("error", err.Error()))
		return "minFraud report (" + tag + ") failed"
	}
	return "reported to minFraud as " + tag
}

func validateEvent(e Event) error {
	switch e.Type {
	case EventPaymentFailed, EventRefund, EventChargeback, EventFraudConfirmed, EventCancelled:
	case "":
		return fieldErr("type", "required")
	default:
		return fieldErr("type", "must be payment_failed, refund, chargeback, fraud_confirmed or cancelled")
	}
	var v validator
	v.text("reason", e.Reason, maxEventReason)
	return v.err
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

// unavailable wraps a Redis (or outbox) failure: "could not decide".
func unavailable(doing string, err error) error {
	return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
}

// DecodeEvent reads the body of POST /api/v1/orders/{id}/events: one JSON
// object {"type": ..., "reason": ...}, strict as DecodeOrder.
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

// decodeObject reads one small JSON object into v: at most MaxOrderBytes,
// no unknown fields, nothing after it. what names the body in errors.
func decodeObject(r io.Reader, what string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxOrderBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > MaxOrderBytes {
		return fmt.Errorf("%s body over %d bytes: %w", what, MaxOrderBytes, ErrTooLarge)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("body must be a JSON object: %w", ErrInvalidInput)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeObjectError(what, err)
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("data after the JSON object: %w", ErrInvalidInput)
	}
	return nil
}

// decodeObjectError names the field of a decoding error where
// encoding/json says which one.
func decodeObjectError(what string, err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fieldErr(typ.Field, "wrong type")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	return fmt.Errorf("decoding %s: %w: %w", what, ErrInvalidInput, err)
}
