package velocity

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/rediserr"
	"github.com/vpsgate/gateway/screening/ident"
)

// Sentinel errors.
var (
	// ErrUnavailable means Redis could not be reached or answered in time:
	// no counts are known (the API answers 503 with Retry-After). A retry
	// with the same order id is safe, see the package doc.
	ErrUnavailable = errors.New("velocity counters unavailable")
	// ErrInvalidInput means the caller passed an order or event that
	// cannot be counted (no order id, unknown event kind).
	ErrInvalidInput = errors.New("invalid velocity input")
	// ErrSkipped means Record counted nothing because the key named by
	// Order.Unless exists.
	ErrSkipped = errors.New("velocity: order skipped, its guard key exists")
)

// Dimension names: a count is named "<dimension>_<window label>", e.g.
// "ip_1h", "accounts_per_ip_24h", "chargeback_account_7d".
const (
	DimIP                   = "ip"
	DimIPPrefix             = "ip_prefix"
	DimEmail                = "email"
	DimAccount              = "account"
	DimCard                 = "card"
	DimAddress              = "address"
	DimAccountsPerIP        = "accounts_per_ip"
	DimCardsPerAccount      = "cards_per_account"
	DimPaymentFailedAccount = "payment_failed_account"
	DimRefundAccount        = "refund_account"
	DimChargebackAccount    = "chargeback_account"
)

// dims lists every dimension in a fixed order; dim values index it.
var dims = [...]string{
	DimIP, DimIPPrefix, DimEmail, DimAccount, DimCard, DimAddress,
	DimAccountsPerIP, DimCardsPerAccount,
	DimPaymentFailedAccount, DimRefundAccount, DimChargebackAccount,
}

type dim int

const (
	dimIP dim = iota
	dimIPPrefix
	dimEmail
	dimAccount
	dimCard
	dimAddress
	dimAccountsPerIP
	dimCardsPerAccount
	dimPaymentFailed
	dimRefund
	dimChargeback
	numDims
)

// EventKind is a payment event counted per account.
type EventKind string

// The event kinds RecordEvent counts.
const (
	EventPaymentFailed EventKind = "payment_failed"
	EventRefund        EventKind = "refund"
	EventChargeback    EventKind = "chargeback"
)

// events pairs each event kind with its dimension and key suffixes.
var events = [...]struct {
	kind EventKind
	dim  dim
	z, o string
}{
	{EventPaymentFailed, dimPaymentFailed, ":pf", ":pfo"},
	{EventRefund, dimRefund, ":rf", ":rfo"},
	{EventChargeback, dimChargeback, ":cb", ":cbo"},
}

// Order is what Record counts: the order id (which makes a retry count
// once) and its identifiers, already normalized by the caller with
// screening/ident (NormalizeEmail, CardFingerprint, NormalizeAddress). Empty
// identifiers and an invalid IP are not counted; their counts are 0.
type Order struct {
	ID      string
	IP      netip.Addr
	Email   string
	Account string
	Card    string
	Address string
	// OlderEmail, when set and not Email, is the form an earlier
	// release keyed the same address by (ident.EmailRules.Forms): its
	// counters are read, not written, and added to the email counts, so
	// that a change of normalization does not reset them; the older keys
	// expire with the longest window. An order retried across the change
	// may count twice there.
	OlderEmail string
	// Unless, when set, is a Redis key (the orders service's record of
	// the order) whose existence means the order is already stored:
	// Record then counts nothing and returns ErrSkipped. On a standalone
	// server the key is checked inside the one script call, atomically
	// with the counting. With one call per identifier (Cluster, Ring) no
	// call can hold a key of another slot, and Unless is ignored.
	Unless string
}

// Counts maps count names ("ip_1h", see the Dim constants and Label) to
// values. Record and RecordEvent always fill every name they cover, with 0
// for identifiers the order lacks.
type Counts map[string]int64

// bucketsPerWindow is how many overflow buckets cover one window: the
// over-count bound of a hot key is the orders of one bucket, window/60.
const bucketsPerWindow = 60

//go:embed script.lua
var scriptSource string

// Counter records orders and payment events in Redis and reports velocity
// counts. It is safe for concurrent use.
type Counter struct {
	rdb       redis.UniversalClient
	h         *ident.Hasher
	prefix    string
	timeout   time.Duration
	windows   []time.Duration // ascending
	names     [numDims][]string
	static    []any // ARGV after "now": cap ttl span nwin
	sha       string
	shaArg    any  // sha, boxed once
	perTag    bool // one script call per hash tag (Cluster, Ring) instead of one in all
	allNames  []string
	evtNames  []string
	gran      []int64 // overflow bucket width per window, ms
	granArgs  []any   // the same as ARGV strings
	windowsMS []int64
}

// New returns a Counter over rdb. cfg must have passed Validate (after
// SetDefaults). It does not contact Redis: the script is sent by EVALSHA and,
// the first time a server lacks it, by EVAL (see Record).
//
// With a *redis.Client (standalone or Sentinel) one order is one EVALSHA
// over all its keys. With any other client (Cluster, Ring), where keys of
// different identifiers live on different nodes, it is one EVALSHA per
// identifier, each within one hash slot, sent in one pipeline.
func New(cfg Config, rdb redis.UniversalClient, h *ident.Hasher) (*Counter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("velocity config: %w", err)
	}
	if rdb == nil || h == nil {
		return nil, errors.New("velocity: nil Redis client or hasher")
	}
	ws := slices.Clone(cfg.Windows)
	slices.Sort(ws)
	c := &Counter{
		rdb:     rdb,
		h:       h,
		prefix:  cfg.KeyPrefix,
		timeout: cfg.Timeout,
		windows: ws,
	}
	_, standalone := rdb.(*redis.Client)
	c.perTag = !standalone
	sum := sha1.Sum([]byte(scriptSource))
	c.sha = hex.EncodeToString(sum[:])
	c.shaArg = c.sha

	longest := ws[len(ws)-1]
	c.static = []any{
		strconv.Itoa(cfg.MaxEntries),
		strconv.FormatInt(longest.Milliseconds(), 10),
		strconv.Itoa(bucketsPerWindow + 2),
		strconv.Itoa(len(ws)),
	}
	for _, w := range ws {
		ms := w.Milliseconds()
		c.windowsMS = append(c.windowsMS, ms)
		c.gran = append(c.gran, (ms+bucketsPerWindow-1)/bucketsPerWindow)
		c.granArgs = append(c.granArgs, strconv.FormatInt(c.gran[len(c.gran)-1], 10))
	}
	for d := range numDims {
		for _, w := range ws {
			name := dims[d] + "_" + Label(w)
			c.names[d] = append(c.names[d], name)
			c.allNames = append(c.allNames, name)
			if d >= dimPaymentFailed {
				c.evtNames = append(c.evtNames, name)
			}
		}
	}
	return c, nil
}

// Names returns every count name Record reports, for checking rule
// expressions at start-up.
func (c *Counter) Names() []string { return slices.Clone(c.allNames) }

// Windows returns the configured windows, ascending.
func (c *Counter) Windows() []time.Duration { return slices.Clone(c.windows) }

// ScriptSource returns the Lua source of the counting script, and
// ScriptSHA its SHA-1 (for EVALSHA after SCRIPT LOAD); Invocation gives the
// KEYS and ARGV of one order. Together they let redis-benchmark measure the
// server-side ceiling of the script alone.
func (c *Counter) ScriptSource() string { return scriptSource }

// ScriptSHA returns the SHA-1 of ScriptSource in hex.
func (c *Counter) ScriptSHA() string { return c.sha }

// Invocation returns the KEYS and ARGV of the single EVALSHA that Record
// sends for o on a standalone server (all identifiers in one call).
func (c *Counter) Invocation(now time.Time, o Order) (keys, argv []string, err error) {
	calls, err := c.plan(now, o, false)
	if err != nil {
		return nil, nil, err
	}
	if len(calls) == 0 {
		return nil, nil, nil
	}
	for _, a := range calls[0].args {
		switch a := a.(type) {
		case string:
			argv = append(argv, a)
		case int64: // the times of the header, as go-redis writes them
			argv = append(argv, strconv.FormatInt(a, 10))
		default:
			return nil, nil, fmt.Errorf("velocity invocation: ARGV value of type %T", a)
		}
	}
	return calls[0].keys, argv, nil
}

// call is one script invocation: its keys, its ARGV, and which dimension
// each group of len(windows) results belongs to.
type call struct {
	keys    []string
	args    []any
	dims    []dim
	guarded bool // the first op is the guard of Order.Unless
}

// The most an order needs: 6 counters and 2 distinct sets written, 4
// counters read (3 events, an older email), and the guard; one call per
// identifier needs at most 10 keys (the account's).
const (
	maxKeysPerOrder = 2*6 + 2 + 2*4 + 1
	maxOpsPerOrder  = 6 + 2 + 4 + 1
	maxKeysPerTag   = 10
)

// planner builds the script calls of one order or event: one per
// identifier when perTag, else one in all. It sizes every slice up front:
// this runs for every order.
type planner struct {
	c      *Counter
	perTag bool
	unless string // Order.Unless, honoured in one call in all only
	// header is the ARGV every call starts with. With one call in all it
	// has room for the whole call's ARGV and becomes it, not a copy.
	header []any
	calls  []call
	// buf holds the stem of the current identifier's keys,
	// prefix{kind:hash}, in buf[:stem] (see tag); key completes it.
	buf  []byte
	stem int
	// keys holds every key of the order one after the other; each key is
	// a substring of it. A strings.Builder never changes bytes it has
	// written, so the substrings stay valid as it grows: the order's ~20
	// keys cost one allocation instead of one each.
	keys strings.Builder
}

// keyRoom is the most a key takes besides the prefix: {address:hash}:z,
// address being the longest kind counted, with ident's 22-character hash.
// Were it too small, the arena would grow: an allocation, not a wrong key.
const keyRoom = len("{address:}:z") + 22

func (c *Counter) newPlanner(now time.Time, perTag bool, unless string) *planner {
	p := &planner{c: c, perTag: perTag, buf: make([]byte, 0, 64+len(c.prefix))}
	p.keys.Grow(maxKeysPerOrder * (len(c.prefix) + keyRoom))
	if !perTag {
		p.unless = unless
		p.header = c.header(now, 2*maxOpsPerOrder)
		p.calls = make([]call, 0, 1)
	} else {
		p.header = c.header(now, 0)
		p.calls = make([]call, 0, 6)
	}
	return p
}

// tag starts the keys of one identifier: prefix{kind:hash}. The braces
// make every key of the identifier one Redis Cluster hash slot.
func (p *planner) tag(kind ident.Kind, value string) {
	p.buf = append(append(p.buf[:0], p.c.prefix...), '{')
	p.buf = append(append(p.buf, kind...), ':')
	p.buf = append(p.c.h.AppendHash(p.buf, kind, value), '}')
	p.stem = len(p.buf)
}

// tagHashed is tag for an identifier already hashed.
func (p *planner) tagHashed(kind ident.Kind, hash string) {
	p.buf = append(append(p.buf[:0], p.c.prefix...), '{')
	p.buf = append(append(p.buf, kind...), ':')
	p.buf = append(append(p.buf, hash...), '}')
	p.stem = len(p.buf)
}

// key returns a key of the identifier tag started: its stem and suffix.
func (p *planner) key(suffix string) string {
	start := p.keys.Len()
	p.keys.Write(p.buf[:p.stem])
	p.keys.WriteString(suffix)
	return p.keys.String()[start:]
}

// begin starts the work on one identifier and returns the call it goes to.
func (p *planner) begin() *call {
	if !p.perTag && len(p.calls) == 1 {
		return &p.calls[0]
	}
	var cl call
	if p.perTag {
		cl = call{
			keys: make([]string, 0, maxKeysPerTag),
			args: append(make([]any, 0, len(p.header)+2*5), p.header...),
			dims: make([]dim, 0, 5),
		}
	} else {
		cl = call{
			keys: make([]string, 0, maxKeysPerOrder),
			args: p.header,
			dims: make([]dim, 0, maxOpsPerOrder),
		}
	}
	if p.unless != "" {
		// The guard op goes first, before any write (script.lua).
		cl.keys = append(cl.keys, p.unless)
		cl.args = append(cl.args, "g", "-")
		cl.guarded = true
	}
	p.calls = append(p.calls, cl)
	return &p.calls[len(p.calls)-1]
}

// counter adds a counter (keys z, o) counting member, or only read when
// member is nil.
func (cl *call) counter(d dim, z, o string, member any) {
	cl.keys = append(cl.keys, z, o)
	if member == nil {
		cl.args = append(cl.args, "r", "-") // no member; "-" keeps ARGV free of empty strings
	} else {
		cl.args = append(cl.args, "c", member)
	}
	cl.dims = append(cl.dims, d)
}

func (cl *call) distinct(d dim, key string, member any) {
	cl.keys = append(cl.keys, key)
	cl.args = append(cl.args, "d", member)
	cl.dims = append(cl.dims, d)
}

// tag returns the key stem of one identifier (planner.tag), for tests
// that read the keys.
func (c *Counter) tag(kind ident.Kind, value string) string {
	p := planner{c: c}
	p.tag(kind, value)
	return string(p.buf)
}

// plan builds the script calls for one order: one per identifier, merged
// into one unless perTag.
func (c *Counter) plan(now time.Time, o Order, perTag bool) ([]call, error) {
	if o.ID == "" {
		return nil, fmt.Errorf("order without id: %w", ErrInvalidInput)
	}
	var member any = c.h.Hash(ident.KindOrder, o.ID) // one conversion for every op
	p := c.newPlanner(now, perTag, o.Unless)
	simple := func(d dim, kind ident.Kind, value string) {
		if value == "" {
			return
		}
		p.tag(kind, value)
		p.begin().counter(d, p.key(":z"), p.key(":o"), member)
	}
	var accountHash string
	if o.Account != "" {
		accountHash = c.h.Hash(ident.KindAccount, o.Account)
	}
	if ip := o.IP.Unmap(); ip.IsValid() {
		p.tag(ident.KindIP, ip.WithZone("").String())
		cl := p.begin()
		cl.counter(dimIP, p.key(":z"), p.key(":o"), member)
		if accountHash != "" {
			cl.distinct(dimAccountsPerIP, p.key(":d"), accountHash)
		}
		simple(dimIPPrefix, ident.KindPrefix, ident.IPPrefix(ip).String())
	}
	simple(dimEmail, ident.KindEmail, o.Email)
	if o.Email != "" && o.OlderEmail != "" && o.OlderEmail != o.Email {
		p.tag(ident.KindEmail, o.OlderEmail)
		p.begin().counter(dimEmail, p.key(":z"), p.key(":o"), nil)
	}
	if o.Account != "" {
		p.tagHashed(ident.KindAccount, accountHash)
		cl := p.begin()
		cl.counter(dimAccount, p.key(":z"), p.key(":o"), member)
		if o.Card != "" {
			cl.distinct(dimCardsPerAccount, p.key(":d"), c.h.Hash(ident.KindCard, o.Card))
		}
		for _, e := range events {
			cl.counter(e.dim, p.key(e.z), p.key(e.o), nil)
		}
	}
	simple(dimCard, ident.KindCard, o.Card)
	simple(dimAddress, ident.KindAddress, o.Address)
	return p.calls, nil
}

// header returns the ARGV that every call starts with, with room for
// extra more. The times go in as int64: go-redis writes an int64 as its
// decimal, the bytes a formatted string would send, and boxing one is a
// single allocation where a string is two (its bytes and the box).
func (c *Counter) header(now time.Time, extra int) []any {
	ms := now.UnixMilli()
	h := make([]any, 0, 1+len(c.static)+2*len(c.windows)+extra)
	h = append(h, ms)
	h = append(h, c.static...)
	for i := range c.windows {
		h = append(h, ms-c.windowsMS[i], c.granArgs[i])
	}
	return h
}

// Record counts order o at time now (the caller's clock, which the script
// uses instead of the server's) and returns every count of Names, including
// this order. It is one network round trip (see the package doc), bounded by
// Config.Timeout. Recording the same order id again counts nothing new and
// returns the current counts.
//
// Errors: ErrInvalidInput without an order id; ErrUnavailable when Redis
// cannot be reached or answer in time.
func (c *Counter) Record(ctx context.Context, now time.Time, o Order) (Counts, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	result := c.QueueRecord(ctx, pipe, now, o)
	// Each command's own error is read by result; Exec's is the first of them.
	_, _ = pipe.Exec(ctx)
	return result(ctx)
}

// QueueRecord queues Record's script calls on pipe, so that a caller can
// send them in the same round trip as other commands (the blocklist check).
// After pipe.Exec, the returned function gives Record's result; ctx bounds
// the extra round trip needed only when a server lacks the script (EVAL
// after NOSCRIPT). The caller bounds Exec itself.
func (c *Counter) QueueRecord(ctx context.Context, pipe redis.Pipeliner, now time.Time, o Order) func(context.Context) (Counts, error) {
	calls, err := c.plan(now, o, c.perTag)
	if err != nil {
		return func(context.Context) (Counts, error) { return nil, fmt.Errorf("recording order: %w", err) }
	}
	cmds := c.queue(ctx, pipe, calls)
	return func(ctx context.Context) (Counts, error) {
		counts := make(Counts, len(c.allNames))
		for _, n := range c.allNames {
			counts[n] = 0
		}
		if err := c.results(ctx, calls, cmds, counts); err != nil {
			return nil, fmt.Errorf("recording order %q: %w", o.ID, err)
		}
		return counts, nil
	}
}

// RecordEvent counts a payment event of an account, keyed by orderID so
// that a retried event counts once, and returns the account's event counts
// (the payment_failed_account, refund_account and chargeback_account names)
// including it. Several events of one kind for one order count as one:
// counts are of orders with such an event. Errors as Record.
func (c *Counter) RecordEvent(ctx context.Context, now time.Time, kind EventKind, account, orderID string) (Counts, error) {
	if account == "" || orderID == "" {
		return nil, fmt.Errorf("recording %s event: account and order id are required: %w", kind, ErrInvalidInput)
	}
	found := false
	var member any = c.h.Hash(ident.KindOrder, orderID)
	p := c.newPlanner(now, false, "")
	p.tag(ident.KindAccount, account)
	cl := p.begin()
	for _, e := range events {
		var m any
		if e.kind == kind {
			m, found = member, true
		}
		cl.counter(e.dim, p.key(e.z), p.key(e.o), m)
	}
	if !found {
		return nil, fmt.Errorf("recording event of kind %q: unknown kind: %w", kind, ErrInvalidInput)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	calls := p.calls
	pipe := c.rdb.Pipeline()
	cmds := c.queue(ctx, pipe, calls)
	_, _ = pipe.Exec(ctx)
	counts := make(Counts, len(c.evtNames))
	for _, n := range c.evtNames {
		counts[n] = 0
	}
	if err := c.results(ctx, calls, cmds, counts); err != nil {
		return nil, fmt.Errorf("recording %s event of order %q: %w", kind, orderID, err)
	}
	return counts, nil
}

// queue queues one EVALSHA per call. It builds the command as EvalSha
// does, except that each key goes in as a pointer into the call's keys
// (go-redis writes a *string as the string, and reads it for Cluster
// routing): EvalSha boxes every key string, an allocation per key, about
// twenty per order. The calls outlive the pipeline's Exec, so the
// pointers do too.
func (c *Counter) queue(ctx context.Context, pipe redis.Pipeliner, calls []call) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	for i := range calls {
		cl := &calls[i]
		args := make([]any, 0, 3+len(cl.keys)+len(cl.args))
		args = append(args, "evalsha", c.shaArg, len(cl.keys))
		for k := range cl.keys {
			args = append(args, &cl.keys[k])
		}
		args = append(args, cl.args...)
		cmd := redis.NewCmd(ctx, args...)
		cmd.SetFirstKeyPos(3)
		_ = pipe.Process(ctx, cmd) // queued; its error is the command's own
		cmds[i] = cmd
	}
	return cmds
}

// results reads the script results into counts. Calls that failed with
// NOSCRIPT (a restarted or flushed server) are sent again with EVAL, which
// is safe: a NOSCRIPT call ran nothing.
func (c *Counter) results(ctx context.Context, calls []call, cmds []*redis.Cmd, counts Counts) error {
	rediserr.EvalRefused(ctx, c.rdb, cmds, func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return pipe.Eval(ctx, scriptSource, calls[i].keys, calls[i].args...)
	})
	for i, cmd := range cmds {
		vals, err := cmd.Int64Slice()
		if err != nil {
			return classify(err)
		}
		if len(vals) == 0 && calls[i].guarded {
			return ErrSkipped
		}
		if len(vals) != len(calls[i].dims)*len(c.windows) {
			return fmt.Errorf("velocity script returned %d values, want %d", len(vals), len(calls[i].dims)*len(c.windows))
		}
		for j, d := range calls[i].dims {
			for w := range c.windows {
				// += : a dimension read under two keys (OlderEmail) is
				// their sum; counts starts at 0 for every name.
				counts[c.names[d][w]] += vals[j*len(c.windows)+w]
			}
		}
	}
	return nil
}

// classify wraps err with ErrUnavailable when it is a Redis outage
// (rediserr.Transient); anything else is a bug to look at, not a reason to
// retry.
func classify(err error) error {
	if rediserr.Transient(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("velocity script: %w", err)
}
