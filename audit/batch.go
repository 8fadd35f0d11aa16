package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// appendBatchScript links a run of entries, already chained in Go, to the
// head in one compare-and-set: all of them or none. It first looks up every
// id; if any is in the log it writes nothing and says which (the caller
// drops those and chains the rest again), so an entry is never stored
// twice and the chain never gets a hole. Fairness claims work as in
// appendScript.
//
// It writes each key once, with all the batch's members: one HMGET of
// the ids, one HSET of the ids, one of the lines, one ZADD per index key
// (the batch's entries mostly share their actor, action and ix:all).
// That stores what a command per entry and index would, with a fraction
// of the commands: the relay's batches made 8 commands per order. Long
// batches go in chunks (call), under Lua's limit on unpack.
//
// KEYS: head, ids, entries, then every index key of the batch once.
// ARGV: expected head seq, expected head hash, the appender's token, "1"
// to claim on conflict, now and claim expiry in ms, the number of
// entries, the last entry's hash, then per entry: id, seq, line, the
// number k of its indexes, and k positions in KEYS.
// Returns {"dup", position, seq, position, seq, ...} (1-based positions
// in the batch), {"conflict", head seq, head hash}, {"uninit", ""} or
// {"ok", last seq}.
var appendBatchScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'init') == 0 then return {'uninit', ''} end
local function call(cmd, key, args)
  for i = 1, #args, 1000 do redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args))) end
end
local n = tonumber(ARGV[7])
local ids, a = {}, 9
for i = 1, n do
  ids[i] = ARGV[a]
  a = a + 4 + tonumber(ARGV[a + 3])
end
local dups = {'dup'}
for i = 1, n, 1000 do
  local got = redis.call('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, n)))
  for j = 1, #got do
    if got[j] then dups[#dups + 1] = tostring(i + j - 1); dups[#dups + 1] = got[j] end
  end
end
if #dups > 1 then return dups end
local head = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'claim', 'claim_until')
local seq, hash = head[1] or '0', head[2] or ''
local claimed = head[3] and head[3] ~= ARGV[3] and tonumber(head[4] or '0') > tonumber(ARGV[5])
if claimed or seq ~= ARGV[1] or hash ~= ARGV[2] then
  if ARGV[4] == '1' and not claimed then
    redis.call('HSET', KEYS[1], 'claim', ARGV[3], 'claim_until', ARGV[6])
  end
  return {'conflict', seq, hash}
end
local idSeqs, lines, ix = {}, {}, {}
a = 9
local last = seq
for i = 1, n do
  local s, k = ARGV[a + 1], tonumber(ARGV[a + 3])
  idSeqs[#idSeqs + 1] = ARGV[a]; idSeqs[#idSeqs + 1] = s
  lines[#lines + 1] = s; lines[#lines + 1] = ARGV[a + 2]
  for j = 1, k do
    local p = tonumber(ARGV[a + 3 + j])
    local m = ix[p]
    if not m then m = {}; ix[p] = m end
    m[#m + 1] = s; m[#m + 1] = s
  end
  last = s
  a = a + 4 + k
end
call('HSET', KEYS[2], idSeqs)
call('HSET', KEYS[3], lines)
for p, m in pairs(ix) do call('ZADD', KEYS[p], m) end
redis.call('HSET', KEYS[1], 'seq', last, 'hash', ARGV[8])
if head[3] then redis.call('HDEL', KEYS[1], 'claim', 'claim_until') end
return {'ok', last}
`)

// AppendBatch adds es to the end of the chain, in order, and returns them
// sealed as Append does, one for one. It is Append for many entries at
// the cost of one: the entries are chained in Go and linked to the head by
// one compare-and-set script, so a batch costs one round trip and one
// script run rather than one per entry. An entry whose ID is already in
// the log (or earlier in es) is not added again: its place in the answer
// holds the stored entry. A batch that loses the race for the head is
// chained again from the new head and retried, like Append, claiming the
// head after claimAfter lost races.
// Errors: ErrInvalidInput (of any entry: nothing is appended),
// ErrUnavailable, ErrConflict.
func (l *Log) AppendBatch(ctx context.Context, es []Entry) ([]Entry, error) {
	return l.appendBatchOf(ctx, es, false)
}

// AppendBatchMarshaled is AppendBatch for entries whose Before and After
// are json.Marshal's output, as the caller declares: valid JSON, compact
// and HTML-escaped, so they are not scanned as JSON again (json.Valid was
// most of the order relay's cost in the log: its documents are an
// order's whole answer). They are still bounded in size and escaped
// (escapeDoc, a no-op on json.Marshal's output), so the stored bytes and
// the hashes are the ones AppendBatch gives them.
//
// This is for the order relay, and is safe there: its documents are
// encoded by json.Marshal in the same program (the orders package's
// commit) and carried through the pending stream byte for byte; anyone
// who could write that stream could write the audit log's keys as well,
// so checking them again protects nothing. A document that broke the
// declaration would be stored under a hash Verify cannot reproduce, so
// every other caller, the one-by-one Append included, gets the full
// check.
func (l *Log) AppendBatchMarshaled(ctx context.Context, es []Entry) ([]Entry, error) {
	return l.appendBatchOf(ctx, es, true)
}

// appendBatchOf is AppendBatch; marshaled is normalize's.
func (l *Log) appendBatchOf(ctx context.Context, es []Entry, marshaled bool) ([]Entry, error) {
	out := make([]Entry, len(es))
	for i, e := range es {
		n, err := normalize(e, marshaled)
		if err != nil {
			return nil, fmt.Errorf("audit batch entry %d: %w", i, err)
		}
		out[i] = n
	}
	if len(out) == 0 {
		return out, nil
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("appending a batch of %d: waiting for the turn: %w", len(es), ctx.Err())
	}
	err := l.appendBatch(ctx, out)
	if err != nil {
		l.known = false // read the head again next time
		return nil, err
	}
	return out, nil
}

// appendBatch seals es in place; it runs under the turn.
func (l *Log) appendBatch(ctx context.Context, es []Entry) error {
	if !l.known {
		h, err := l.head(ctx)
		if err != nil {
			return fmt.Errorf("appending a batch of %d: %w", len(es), err)
		}
		l.head0, l.known = h, true
	}
	// pending are the positions still to append; a repeated id is filled
	// in from its first position at the end.
	first := make(map[string]int, len(es))
	var pending, repeats []int
	for i, e := range es {
		if _, ok := first[e.ID]; ok {
			repeats = append(repeats, i)
			continue
		}
		first[e.ID] = i
		pending = append(pending, i)
	}
	defer func() {
		for _, i := range repeats {
			es[i] = es[first[es[i].ID]]
		}
	}()
	// The batch's keys, each index once; every entry names its indexes by
	// position in KEYS.
	keys := []string{l.headKey(), l.idsKey(), l.entriesKey()}
	keyAt := make(map[string]int)
	ixs := make([][]int, len(es))
	for _, i := range pending {
		for _, k := range l.indexKeys(es[i]) {
			p, ok := keyAt[k]
			if !ok {
				keys = append(keys, k)
				p = len(keys) // Lua's KEYS are 1-based
				keyAt[k] = p
			}
			ixs[i] = append(ixs[i], p)
		}
	}
	token := rand.Int64()
	start := time.Now()
	for attempt := 0; len(pending) > 0; attempt++ {
		if gaveUp(attempt, start) {
			return fmt.Errorf("appending a batch of %d: %w", len(pending), ErrConflict)
		}
		head := l.head0
		claim := "0"
		if attempt >= claimAfter {
			claim = "1"
		}
		now := l.now()
		args := make([]any, 0, 8+len(pending)*8)
		args = append(args, strconv.FormatInt(head.Seq, 10), head.Hash, token, claim,
			now.UnixMilli(), now.Add(claimTime).UnixMilli(), len(pending), "")
		prev := head
		for _, i := range pending {
			e := &es[i]
			e.Seq, e.Prev = prev.Seq+1, prev.Hash
			line, err := e.seal()
			if err != nil {
				return err
			}
			prev.Seq, prev.Hash = e.Seq, e.Hash
			args = append(args, e.ID, strconv.FormatInt(e.Seq, 10), line, len(ixs[i]))
			for _, p := range ixs[i] {
				args = append(args, p)
			}
		}
		args[7] = prev.Hash
		res, err := appendBatchScript.Run(ctx, l.rdb, keys, args...).StringSlice()
		if err != nil {
			return fmt.Errorf("appending a batch of %d: %w", len(pending), classify(err))
		}
		switch res[0] {
		case "ok":
			l.head0.Seq, l.head0.Hash = prev.Seq, prev.Hash
			return nil
		case "uninit":
			return fmt.Errorf("appending a batch of %d: %w: the chain head is not initialized yet (Archiver.Init)", len(pending), ErrUnavailable)
		case "dup":
			var err error
			if pending, err = l.takeStored(ctx, es, pending, res[1:]); err != nil {
				return err
			}
			continue // nothing was written: chain the rest again at once
		}
		if len(res) != 3 {
			return fmt.Errorf("appending a batch of %d: unexpected script answer %q", len(pending), res)
		}
		seq, err := strconv.ParseInt(res[1], 10, 64)
		if err != nil {
			return fmt.Errorf("appending a batch of %d: head seq %q: %w", len(pending), res[1], err)
		}
		l.head0.Seq, l.head0.Hash = seq, res[2]
		if attempt > 0 {
			backoff := min(maxBackoff, time.Duration(attempt)*200*time.Microsecond)
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(backoff)))); err != nil {
				return fmt.Errorf("appending a batch of %d: %w", len(pending), err)
			}
		}
	}
	return nil
}

// takeStored puts the stored entries the script named as duplicates
// (pairs of 1-based position in pending and seq) in their places in es
// and returns the positions still to append.
func (l *Log) takeStored(ctx context.Context, es []Entry, pending []int, pairs []string) ([]int, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("appending a batch: unexpected duplicate answer %q", pairs)
	}
	dup := make(map[int]int64, len(pairs)/2) // position in pending -> seq
	seqs := make([]int64, 0, len(pairs)/2)
	for j := 0; j < len(pairs); j += 2 {
		pos, err1 := strconv.Atoi(pairs[j])
		seq, err2 := strconv.ParseInt(pairs[j+1], 10, 64)
		if err1 != nil || err2 != nil || pos < 1 || pos > len(pending) {
			return nil, fmt.Errorf("appending a batch: unexpected duplicate answer %q", pairs)
		}
		dup[pos-1] = seq
		seqs = append(seqs, seq)
	}
	lines, err := l.lines(ctx, seqs)
	if err != nil {
		return nil, fmt.Errorf("reading the stored duplicates of a batch: %w", err)
	}
	stored := make(map[int64][]byte, len(seqs))
	for j, s := range seqs {
		stored[s] = lines[j]
	}
	rest := pending[:0:0]
	for j, i := range pending {
		seq, ok := dup[j]
		if !ok {
			rest = append(rest, i)
			continue
		}
		if stored[seq] == nil {
			return nil, fmt.Errorf("reading %s, already appended as %d: entry not in Redis", es[i].ID, seq)
		}
		e, err := parseLine(stored[seq])
		if err != nil {
			return nil, fmt.Errorf("reading %s, already appended as %d: %w", es[i].ID, seq, err)
		}
		es[i] = e
	}
	return rest, nil
}
