package blocklist

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/rediserr"
	"github.com/vpsgate/gateway/screening/ident"
)

// DefaultPrefix is the key prefix New uses when given "".
const DefaultPrefix = "gw:bl:"

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Entry is one blocklisted identifier.
type Entry struct {
	Kind Kind `json:"kind"`
	// Value is the identifier as given to Add. Add and List return it
	// masked (see Mask): the identifier itself is never stored.
	Value   string `json:"value"`
	Reason  string `json:"reason"`
	AddedBy string `json:"added_by"`
	// AddedAt is when the entry was added, kept to the millisecond. Add
	// uses the current time when it is zero.
	AddedAt time.Time `json:"added_at"`
	// ID names the entry (for RemoveID): the keyed hash of its kind and
	// normalized value, so the same identifier always has the same ID.
	ID string `json:"id"`
}

// Hit is an entry that matched a Query.
type Hit struct {
	Kind   Kind   `json:"kind"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Value  string `json:"value"` // masked, as List shows it
}

// Query holds the identifiers of an order to check. Empty fields are not
// checked. Email and Card are normalized here (the List's ident.EmailRules,
// CardKey). EmailDomain is checked besides the domain of Email. A domain
// matches an email_domain entry for itself or for any parent domain of at
// least two labels ("x@a.b.evil.example" matches "evil.example", never
// "notevil.example").
type Query struct {
	IP          netip.Addr
	Email       string
	EmailDomain string
	Account     string
	Card        string
}

// List is the blocklist, stored in Redis. It is safe for concurrent use.
//
// Every key carries the hash tag {bl} (prefix + "{bl}:..."), so a whole list
// lives in one Redis Cluster slot: adding and removing are atomic
// transactions, and Check is one round trip to one node.
type List struct {
	rdb    redis.UniversalClient
	h      *ident.Hasher
	stem   string // prefix + "{bl}:"
	verKey string // stem + "ver", made once: Check reads it for every order
	emails ident.EmailRules

	cidrs  atomic.Pointer[cidrSet]
	reload sync.Mutex // one reload at a time; others wait and reuse it
}

// New returns the blocklist stored under prefix ("" means DefaultPrefix)
// in rdb. emails decides which spellings of an address one email entry
// blocks (screening.email_normalization). It does not contact Redis.
// Calls are bounded by their context.
func New(rdb redis.UniversalClient, h *ident.Hasher, prefix string, emails ident.EmailRules) *List {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	stem := prefix + "{bl}:"
	return &List{rdb: rdb, h: h, stem: stem, verKey: stem + "ver", emails: emails}
}

// parse is ParseEntry under the List's email rules: the value an entry is
// keyed by, and the values earlier releases keyed the same entry by (an
// email before provider rules, a card with its 8-digit BIN), which Remove
// also tries.
func (l *List) parse(kind, value string) (Kind, string, []string, error) {
	k, v, err := ParseEntry(kind, value)
	if err != nil {
		return "", "", nil, err
	}
	var older []string
	switch k {
	case KindEmail:
		if key, old, err := l.emails.Forms(v); err == nil && old != "" {
			v, older = key, []string{old}
		}
	case KindCard:
		if fp, err := ident.ParseCardFingerprint(value); err == nil && fp != v {
			older = []string{fp}
		}
	}
	return k, v, older, nil
}

func (l *List) entryKey(id string) string { return l.stem + "e:" + id }
func (l *List) indexKey(k Kind) string {
	if k == "" {
		return l.stem + "idx"
	}
	return l.stem + "idx:" + string(k)
}
func (l *List) cidrKey() string    { return l.stem + "cidr" }
func (l *List) versionKey() string { return l.verKey }

func (l *List) id(k Kind, normalized string) string {
	return l.h.Hash(ident.Kind(k), normalized)
}

// cidrRecord is the value of a range in the cidr hash, loaded by Check.
type cidrRecord struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// Add lists e.Value under e.Kind, or updates the reason, author and time of
// an entry already listed, and returns the entry as stored (value masked,
// ID set). Errors: *FieldError (ErrInvalidInput), ErrUnavailable.
func (l *List) Add(ctx context.Context, e Entry) (Entry, error) {
	k, v, _, err := l.parse(string(e.Kind), e.Value)
	if err != nil {
		return Entry{}, err
	}
	reason, by := strings.TrimSpace(e.Reason), strings.TrimSpace(e.AddedBy)
	switch {
	case reason == "":
		return Entry{}, fieldErr("reason", "is required")
	case len(reason) > maxReasonLen:
		return Entry{}, fieldErr("reason", "is longer than %d bytes", maxReasonLen)
	case len(by) > maxAddedByLen:
		return Entry{}, fieldErr("added_by", "is longer than %d bytes", maxAddedByLen)
	}
	if err := checkText(reason); err != nil {
		return Entry{}, fieldErr("reason", "%s", err)
	}
	if err := checkText(by); err != nil {
		return Entry{}, fieldErr("added_by", "%s", err)
	}
	at := e.AddedAt
	if at.IsZero() {
		at = time.Now()
	}
	at = time.UnixMilli(at.UnixMilli()).UTC()
	out := Entry{Kind: k, Value: Mask(k, v), Reason: reason, AddedBy: by, AddedAt: at, ID: l.id(k, v)}

	ms := at.UnixMilli()
	pipe := l.rdb.TxPipeline()
	pipe.HSet(ctx, l.entryKey(out.ID),
		"kind", string(k), "value", out.Value, "reason", reason, "added_by", by, "added_at", strconv.FormatInt(ms, 10))
	pipe.ZAdd(ctx, l.indexKey(""), redis.Z{Score: float64(ms), Member: out.ID})
	pipe.ZAdd(ctx, l.indexKey(k), redis.Z{Score: float64(ms), Member: out.ID})
	if k == KindCIDR {
		rec, err := json.Marshal(cidrRecord{Prefix: v, Reason: reason})
		if err != nil {
			return Entry{}, fmt.Errorf("encoding range: %w", err)
		}
		pipe.HSet(ctx, l.cidrKey(), out.ID, rec)
		pipe.Set(ctx, l.versionKey(), newVersion(), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Entry{}, fmt.Errorf("adding %s entry: %w", k, classify(err))
	}
	return out, nil
}

// Remove unlists the identifier value of kind: the entry Add makes of it
// now, else one an earlier release made of it (see parse). Errors:
// *FieldError, ErrNotFound, ErrUnavailable.
func (l *List) Remove(ctx context.Context, kind Kind, value string) error {
	k, v, older, err := l.parse(string(kind), value)
	if err != nil {
		return err
	}
	err = l.RemoveID(ctx, l.id(k, v))
	for _, o := range older {
		if !errors.Is(err, ErrNotFound) {
			break
		}
		err = l.RemoveID(ctx, l.id(k, o))
	}
	return err
}

// removeScript deletes an entry and its index and range records at once.
// KEYS: entry, all-index, cidr hash, version, then every per-kind index
// (the entry's kind is not known before reading it). ARGV: id, a new
// version of the ranges (newVersion).
var removeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 5, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then redis.call('SET', KEYS[4], ARGV[2]) end
return 1
`)

// RemoveID unlists the entry with this ID. Errors: ErrNotFound,
// ErrUnavailable.
func (l *List) RemoveID(ctx context.Context, id string) error {
	if len(id) != ident.HashLen || strings.ContainsAny(id, "{}:* ") {
		return fmt.Errorf("removing entry %q: %w", id, ErrNotFound)
	}
	keys := []string{l.entryKey(id), l.indexKey(""), l.cidrKey(), l.versionKey()}
	for _, k := range Kinds {
		keys = append(keys, l.indexKey(k))
	}
	n, err := removeScript.Run(ctx, l.rdb, keys, id, newVersion()).Int()
	if err != nil {
		return fmt.Errorf("removing entry %s: %w", id, classify(err))
	}
	if n == 0 {
		return fmt.Errorf("removing entry %s: %w", id, ErrNotFound)
	}
	return nil
}

// List returns up to limit entries of kind ("" for all kinds), newest
// first, values masked. limit <= 0 means DefaultListLimit; it is capped at
// MaxListLimit. Errors: *FieldError for an unknown kind, ErrUnavailable.
func (l *List) List(ctx context.Context, kind Kind, limit int) ([]Entry, error) {
	if kind != "" && !validKind(kind) {
		return nil, fieldErr("kind", "must be one of ip, cidr, email, email_domain, account, card")
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	ids, err := l.rdb.ZRevRange(ctx, l.indexKey(kind), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing entries: %w", classify(err))
	}
	if len(ids) == 0 {
		return []Entry{}, nil
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, l.entryKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading entries: %w", classify(err))
	}
	out := make([]Entry, 0, len(ids))
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			continue // removed since the index was read
		}
		ms, _ := strconv.ParseInt(m["added_at"], 10, 64)
		out = append(out, Entry{
			Kind:    Kind(m["kind"]),
			Value:   m["value"],
			Reason:  m["reason"],
			AddedBy: m["added_by"],
			AddedAt: time.UnixMilli(ms).UTC(),
			ID:      ids[i],
		})
	}
	return out, nil
}

// Check returns the entries matching q: exact identifiers and every listed
// range containing q.IP, ordered by kind as in Kinds. It is one round trip
// (a pipeline of one HMGET per identifier and a GET of the ranges'
// version), plus a reload of the ranges only when they changed since the
// last Check. Errors: ErrUnavailable.
func (l *List) Check(ctx context.Context, q Query) ([]Hit, error) {
	pipe := l.rdb.Pipeline()
	result := l.QueueCheck(ctx, pipe, q)
	_, _ = pipe.Exec(ctx) // each command's error is read by result
	return result(ctx)
}

type probe struct {
	kind Kind
	key  string // entryKey(id)
	id   string // the end of key
	cmd  *redis.Cmd
}

// QueueCheck queues Check's commands on pipe, so that they travel with
// other commands (velocity.Counter.QueueRecord) in one round trip. After
// pipe.Exec, the returned function gives Check's result; ctx bounds the
// reload of the ranges when they changed.
func (l *List) QueueCheck(ctx context.Context, pipe redis.Pipeliner, q Query) func(context.Context) ([]Hit, error) {
	const usualProbes = 8
	probes := make([]probe, 0, usualProbes)
	// key is one entry's key, entryKey(id), built around the hash so that
	// the key is the probe's one string: id is the end of it.
	key := make([]byte, 0, len(l.stem)+len("e:")+ident.HashLen)
	key = append(key, l.stem+"e:"...)
	n := len(key)
	// The probes' keys are substrings of one Builder, one allocation for
	// all of them: a Builder never rewrites bytes it has written, so the
	// substrings stay valid if a deep email domain makes it grow.
	var keys strings.Builder
	keys.Grow(usualProbes * cap(key))
	add := func(k Kind, v string) {
		key = l.h.AppendHash(key[:n], ident.Kind(k), v)
		// A few probes, or up to 127 for a deep email domain: a scan
		// costs less than a set.
		if slices.ContainsFunc(probes, func(p probe) bool { return p.id == string(key[n:]) }) {
			return
		}
		start := keys.Len()
		keys.Write(key)
		k0 := keys.String()[start:]
		probes = append(probes, probe{kind: k, key: k0, id: k0[n:]})
	}
	ip := q.IP.Unmap().WithZone("")
	if ip.IsValid() {
		add(KindIP, ip.String())
	}
	var domains []string
	if q.Email != "" {
		// The address as keyed now, and as an earlier release keyed it:
		// entries added before provider rules keep matching.
		if key, older, err := l.emails.Forms(q.Email); err == nil {
			for _, e := range []string{key, older} {
				if e != "" {
					add(KindEmail, e)
					domains = append(domains, e[strings.LastIndexByte(e, '@')+1:])
				}
			}
		}
	}
	if q.EmailDomain != "" {
		if d, err := ident.NormalizeDomain(strings.TrimPrefix(strings.TrimSpace(q.EmailDomain), "@")); err == nil {
			domains = append(domains, d)
		}
	}
	for _, d := range domains {
		for _, p := range parentDomains(d) {
			add(KindEmailDomain, p)
		}
	}
	if a := strings.TrimSpace(q.Account); a != "" {
		add(KindAccount, a)
	}
	if q.Card != "" {
		if fp, err := ident.ParseCardFingerprint(q.Card); err == nil {
			add(KindCard, CardKey(fp))
			// Entries added before CardKey with an 8-digit BIN.
			add(KindCard, fp)
		}
	}
	// HMGET by Do: HMGet boxes its key and each field name on every
	// call. Here the field names are constants, boxed once, and the key
	// goes in as a pointer into probes, which is not appended to any
	// more (go-redis writes a *string as the string).
	for i := range probes {
		p := &probes[i]
		p.cmd = pipe.Do(ctx, "hmget", &p.key, "kind", "reason", "value")
	}
	var version *redis.StringCmd
	if ip.IsValid() {
		version = pipe.Get(ctx, l.versionKey())
	}
	return func(ctx context.Context) ([]Hit, error) {
		var hits []Hit
		for _, p := range probes {
			vals, err := p.cmd.Slice()
			if err != nil {
				return nil, fmt.Errorf("checking blocklist: %w", classify(err))
			}
			if len(vals) != 3 || vals[0] == nil {
				continue
			}
			reason, _ := vals[1].(string)
			value, _ := vals[2].(string)
			hits = append(hits, Hit{Kind: p.kind, ID: p.id, Reason: reason, Value: value})
		}
		if version != nil {
			v, err := version.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, fmt.Errorf("checking blocklist ranges: %w", classify(err))
			}
			set, err := l.ranges(ctx, v)
			if err != nil {
				return nil, err
			}
			hits = append(hits, set.lookup(ip)...)
		}
		slices.SortStableFunc(hits, func(a, b Hit) int {
			return slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind)
		})
		return hits, nil
	}
}

// parentDomains returns d and every parent domain of d with at least two
// labels, so that an entry for evil.example matches mail.evil.example: a
// domain's owner controls every name under it. Matching is by whole
// labels: notevil.example is not under evil.example. A normalized domain
// has at most 127 labels, so at most 126 look-ups.
func parentDomains(d string) []string {
	out := []string{d}
	for {
		_, rest, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(rest, ".") {
			return out
		}
		out = append(out, rest)
		d = rest
	}
}

// newVersion returns a fresh version of the ranges: random, not a counter,
// so that a version lost with Redis's data (a restart without persistence,
// a failover to a replica that lagged) can never come back with a value a
// process has already loaded, which would hide the new ranges from it.
func newVersion() string { return rand.Text() }

// cidrSet is an in-memory copy of the listed ranges, as of version ("" when
// the ranges never changed, or their version was lost).
type cidrSet struct {
	version string
	bits    []int // prefix lengths present, most specific first
	byNet   map[netip.Prefix]Hit
}

// lookup returns a hit for every listed range containing ip: one map look-up
// per distinct prefix length listed.
func (s *cidrSet) lookup(ip netip.Addr) []Hit {
	var hits []Hit
	for _, b := range s.bits {
		p, err := ip.Prefix(b)
		if err != nil {
			continue // a length of the other address family
		}
		if h, ok := s.byNet[p]; ok {
			hits = append(hits, h)
		}
	}
	return hits
}

// ranges returns the ranges, reloading them from Redis when the copy in
// memory was loaded at another version than the one just read (an older or,
// after a concurrent reload, a newer one: reloading then costs a round trip
// and is still correct).
func (l *List) ranges(ctx context.Context, version string) (*cidrSet, error) {
	if s := l.cidrs.Load(); s != nil && s.version == version {
		return s, nil
	}
	l.reload.Lock()
	defer l.reload.Unlock()
	if s := l.cidrs.Load(); s != nil && s.version == version {
		return s, nil
	}
	pipe := l.rdb.TxPipeline()
	ver := pipe.Get(ctx, l.versionKey())
	all := pipe.HGetAll(ctx, l.cidrKey())
	_, _ = pipe.Exec(ctx) // errors are read per command: GET may be redis.Nil
	for _, err := range []error{ver.Err(), all.Err()} {
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("loading blocklist ranges: %w", classify(err))
		}
	}
	s := &cidrSet{version: ver.Val(), byNet: make(map[netip.Prefix]Hit)}
	seen := make(map[int]bool)
	for id, raw := range all.Val() {
		var rec cidrRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("loading blocklist range %s: %w", id, err)
		}
		p, err := netip.ParsePrefix(rec.Prefix)
		if err != nil {
			return nil, fmt.Errorf("loading blocklist range %s: %w", id, err)
		}
		s.byNet[p] = Hit{Kind: KindCIDR, ID: id, Reason: rec.Reason, Value: rec.Prefix}
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			s.bits = append(s.bits, p.Bits())
		}
	}
	slices.SortFunc(s.bits, func(a, b int) int { return b - a })
	l.cidrs.Store(s)
	return s, nil
}

// classify wraps err with ErrUnavailable when it is a Redis outage
// (rediserr.Transient); anything else is a bug to look at, not a reason to
// retry.
func classify(err error) error {
	if rediserr.Transient(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
