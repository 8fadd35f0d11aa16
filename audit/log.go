package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/rediserr"
)

// Errors.
var (
	// ErrUnavailable is Redis (or S3) not answering: retry later.
	ErrUnavailable = kind.New(kind.ErrUnavailable, "audit log unavailable")
	// ErrConflict is an Append that lost the race for the chain head more
	// times than it retries: for the caller, a busy dependency (503), not a
	// request that contradicts the record.
	ErrConflict = kind.New(kind.ErrUnavailable, "audit log busy: too many concurrent appends")
)

// hashTag puts every key of the log in one Redis Cluster slot, so that
// the append script can touch the head, the entries and the indexes at
// once.
const hashTag = "{audit}"

// Log is the audit log in Redis. It is safe for concurrent use, and any
// number of processes may append to the same log.
type Log struct {
	rdb    redis.UniversalClient
	stem   string // prefix + "{audit}:"
	logger *slog.Logger

	now func() time.Time // for claim expiry only; entries carry their own time

	// turn lets one Append of this process run at a time; head0 and
	// known, guarded by it, are the chain head this process last saw.
	turn  chan struct{}
	head0 Head
	known bool
}

// New returns the log whose keys start with prefix (for example "gw:").
// prefix must not contain '{' or '}': the hash tag that follows it must be
// the key's first.
func New(rdb redis.UniversalClient, prefix string, logger *slog.Logger) (*Log, error) {
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("audit key prefix %q: must not contain { or }", prefix)
	}
	return &Log{rdb: rdb, stem: prefix + hashTag + ":", logger: logger, now: time.Now, turn: make(chan struct{}, 1)}, nil
}

// Keys. The head hash holds: seq and hash of the last entry; archived, the
// last seq in the S3 archive; trimmed and trimmed_hash, the last seq
// removed from Redis after archiving and its hash (the anchor the first
// entry left in Redis links to).
func (l *Log) headKey() string    { return l.stem + "head" }
func (l *Log) entriesKey() string { return l.stem + "entries" } // hash: seq -> stored line
func (l *Log) idsKey() string     { return l.stem + "ids" }     // hash: entry id -> seq
func (l *Log) allKey() string     { return l.stem + "ix:all" }  // zset: seq scored by seq
func (l *Log) leaseKey() string   { return l.stem + "archiver" }

// index names the secondary indexes (zsets of seqs, scored by seq), one per
// filterable value. Values are length-prefixed so that no value can name
// another index's key.
func (l *Log) indexKey(field, value string) string {
	return l.stem + "ix:" + field + ":" + strconv.Itoa(len(value)) + ":" + value
}

func (l *Log) indexKeys(e Entry) []string {
	keys := []string{l.allKey(), l.indexKey("actor", e.Actor), l.indexKey("action", e.Action)}
	if e.Order != "" {
		keys = append(keys, l.indexKey("order", e.Order))
	}
	if e.Account != "" {
		keys = append(keys, l.indexKey("account", e.Account))
	}
	return keys
}

// appendScript links one entry to the head, compare-and-set: it writes only
// when the head is still the one the entry was hashed against.
//
// Fairness: an appender that keeps losing races (another process's next
// append, with the head it just wrote, is always a little quicker)
// claims the head for itself: while its claim lasts, every other append
// gets "conflict", so its next try, against the head it was just told,
// wins. A claim ends when its holder appends, or after the claim time
// (a holder that died).
//
// KEYS: head, ids, entries, then the entry's indexes.
// ARGV: id, expected head seq, expected head hash, new seq, new hash,
// line, the appender's token, "1" to claim on conflict, now and claim
// expiry in ms.
// Returns {"dup", seq}, {"conflict", head seq, head hash}, {"uninit", ""}
// or {"ok", seq}.
var appendScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'init') == 0 then return {'uninit', ''} end
local dup = redis.call('HGET', KEYS[2], ARGV[1])
if dup then return {'dup', dup} end
local head = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'claim', 'claim_until')
local seq, hash = head[1] or '0', head[2] or ''
local claimed = head[3] and head[3] ~= ARGV[7] and tonumber(head[4] or '0') > tonumber(ARGV[9])
if claimed or seq ~= ARGV[2] or hash ~= ARGV[3] then
  if ARGV[8] == '1' and not claimed then
    redis.call('HSET', KEYS[1], 'claim', ARGV[7], 'claim_until', ARGV[10])
  end
  return {'conflict', seq, hash}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
for i = 4, #KEYS do redis.call('ZADD', KEYS[i], ARGV[4], ARGV[4]) end
redis.call('HSET', KEYS[1], 'seq', ARGV[4], 'hash', ARGV[5])
if head[3] then redis.call('HDEL', KEYS[1], 'claim', 'claim_until') end
return {'ok', ARGV[4]}
`)

// maxAppendAttempts bounds the compare-and-set retries of one Append.
// Each process has one append in flight (Log.turn), so a lost race means
// another process appended; this many losses in a row takes dozens of
// processes appending flat out.
const maxAppendAttempts = 100

// minAppendWait is how long an append keeps trying, however many attempts
// that takes: longer than another appender's claim on the head
// (claimTime), so that a claimant stalled on a loaded machine (its claim
// lasts until it appends or the claim time ends) cannot make everyone
// else give up with ErrConflict while they wait their turn.
const minAppendWait = 2*claimTime + time.Second

// gaveUp reports whether an append that began at start has tried long and
// often enough.
func gaveUp(attempt int, start time.Time) bool {
	return attempt >= maxAppendAttempts && time.Since(start) > minAppendWait
}

// maxBackoff caps the jittered wait between two attempts.
const maxBackoff = 20 * time.Millisecond

// An append that lost claimAfter races claims the head (appendScript) for
// claimTime at most.
const (
	claimAfter = 3
	claimTime  = 2 * time.Second
)

// Append adds e to the end of the chain and returns it sealed (Seq, Prev,
// Hash set, Time in UTC, Before and After compacted). An entry whose ID is
// already in the log is not added again: Append returns the stored one.
// Until the head is initialized (Archiver.Init, which continues the chain
// from the archive after Redis lost its data) Append refuses with
// ErrUnavailable rather than start a second chain at seq 1.
// Errors: ErrInvalidInput, ErrUnavailable, ErrConflict.
//
// Appends of one Log take turns: racing each other for the head would
// only waste round trips, and a goroutine that keeps losing to fresh ones
// could starve (measured: 8 goroutines without turns failed appends after
// 50 lost races). The head this process last saw is kept, so an
// uncontended Append is one round trip.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	e, err := normalize(e, false)
	if err != nil {
		return Entry{}, err
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return Entry{}, fmt.Errorf("appending %s: waiting for the turn: %w", e.ID, ctx.Err())
	}
	out, err := l.append(ctx, e)
	if err != nil {
		l.known = false // read the head again next time
	}
	return out, err
}

// append runs under the turn; l.head0 and l.known are the head this
// process last saw.
func (l *Log) append(ctx context.Context, e Entry) (Entry, error) {
	keys := append([]string{l.headKey(), l.idsKey(), l.entriesKey()}, l.indexKeys(e)...)
	if !l.known {
		h, err := l.head(ctx)
		if err != nil {
			return Entry{}, fmt.Errorf("appending %s: %w", e.ID, err)
		}
		l.head0, l.known = h, true
	}
	token := rand.Int64()
	start := time.Now()
	for attempt := 0; !gaveUp(attempt, start); attempt++ {
		head := l.head0
		e.Seq, e.Prev = head.Seq+1, head.Hash
		line, err := e.seal() // one encoding for the hash and the line
		if err != nil {
			return Entry{}, err
		}
		claim := "0"
		if attempt >= claimAfter {
			claim = "1"
		}
		now := l.now()
		res, err := appendScript.Run(ctx, l.rdb, keys,
			e.ID, strconv.FormatInt(head.Seq, 10), head.Hash, strconv.FormatInt(e.Seq, 10), e.Hash, line,
			token, claim, now.UnixMilli(), now.Add(claimTime).UnixMilli()).StringSlice()
		if err != nil {
			return Entry{}, fmt.Errorf("appending %s: %w", e.ID, classify(err))
		}
		switch res[0] {
		case "ok":
			l.head0.Seq, l.head0.Hash = e.Seq, e.Hash
			return e, nil
		case "uninit":
			return Entry{}, fmt.Errorf("appending %s: %w: the chain head is not initialized yet (Archiver.Init)", e.ID, ErrUnavailable)
		case "dup":
			seq, _ := strconv.ParseInt(res[1], 10, 64)
			stored, err := l.bySeq(ctx, seq)
			if err != nil {
				return Entry{}, fmt.Errorf("reading %s, already appended as %d: %w", e.ID, seq, err)
			}
			return stored, nil
		}
		// Another process moved the head; the script said where to. The
		// first retry goes at once; later ones back off, with jitter, so
		// that processes do not retry in lockstep.
		if len(res) != 3 {
			return Entry{}, fmt.Errorf("appending %s: unexpected script answer %q", e.ID, res)
		}
		seq, err := strconv.ParseInt(res[1], 10, 64)
		if err != nil {
			return Entry{}, fmt.Errorf("appending %s: head seq %q: %w", e.ID, res[1], err)
		}
		l.head0.Seq, l.head0.Hash = seq, res[2]
		if attempt > 0 {
			backoff := min(maxBackoff, time.Duration(attempt)*200*time.Microsecond)
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(backoff)))); err != nil {
				return Entry{}, fmt.Errorf("appending %s: %w", e.ID, err)
			}
		}
	}
	return Entry{}, fmt.Errorf("appending %s: %w", e.ID, ErrConflict)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Head is the state of the log in Redis.
type Head struct {
	Seq         int64  // last entry
	Hash        string // its hash
	Archived    int64  // last seq copied to S3
	Trimmed     int64  // last seq removed from Redis (0: none)
	TrimmedHash string // its hash: the Prev of entry Trimmed+1
}

// Head reads the head of the log.
func (l *Log) Head(ctx context.Context) (Head, error) {
	h, err := l.head(ctx)
	if err != nil {
		return Head{}, fmt.Errorf("reading audit head: %w", err)
	}
	return h, nil
}

func (l *Log) head(ctx context.Context) (Head, error) {
	v, err := l.rdb.HMGet(ctx, l.headKey(), "seq", "hash", "archived", "trimmed", "trimmed_hash").Result()
	if err != nil {
		return Head{}, classify(err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	num := func(i int) (int64, error) {
		if str(i) == "" {
			return 0, nil
		}
		return strconv.ParseInt(str(i), 10, 64)
	}
	var h Head
	var errs []error
	for i, p := range []*int64{&h.Seq, nil, &h.Archived, &h.Trimmed} {
		if p == nil {
			continue
		}
		n, err := num(i)
		errs = append(errs, err)
		*p = n
	}
	h.Hash, h.TrimmedHash = str(1), str(4)
	if err := errors.Join(errs...); err != nil {
		return Head{}, fmt.Errorf("head is corrupt: %w", err)
	}
	return h, nil
}

// bySeq reads one stored entry.
func (l *Log) bySeq(ctx context.Context, seq int64) (Entry, error) {
	raw, err := l.rdb.HGet(ctx, l.entriesKey(), strconv.FormatInt(seq, 10)).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return Entry{}, fmt.Errorf("entry %d: not in Redis", seq)
		}
		return Entry{}, classify(err)
	}
	return parseLine([]byte(raw))
}

// lines reads the stored lines of seqs; a missing one is nil.
func (l *Log) lines(ctx context.Context, seqs []int64) ([][]byte, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	fields := make([]string, len(seqs))
	for i, s := range seqs {
		fields[i] = strconv.FormatInt(s, 10)
	}
	v, err := l.rdb.HMGet(ctx, l.entriesKey(), fields...).Result()
	if err != nil {
		return nil, classify(err)
	}
	out := make([][]byte, len(v))
	for i, x := range v {
		if s, ok := x.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

func classify(err error) error {
	if rediserr.Transient(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
