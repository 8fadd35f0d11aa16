package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// Shards is how many Redis Cluster slots the orders spread over. Every key
// of an order, and its shard's pending stream, held-orders index and
// account index, carry the hash tag {o<shard>}: one script touches them
// all atomically, on a standalone server and on Cluster alike. It is a
// constant: changing it would orphan stored orders and pending entries.
const Shards = 16

// shardOf is FNV-1a (32 bits, hash/fnv's New32a) of sid modulo Shards,
// computed over the string in place: hash/fnv's Hash32 escapes to the
// heap and needs a []byte copy of sid, two allocations for each of the
// several keys an order's Submit and commit name.
func shardOf(sid string) int {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := range len(sid) {
		h ^= uint32(sid[i])
		h *= prime32
	}
	return int(h % Shards)
}

func (s *Service) tag(shard int) string {
	return s.prefix + "o{o" + strconv.Itoa(shard) + "}:"
}

// Keys of an order (sid) and of its shard.
func (s *Service) recordKey(sid string) string   { return s.tag(shardOf(sid)) + "order:" + sid }
func (s *Service) timelineKey(sid string) string { return s.recordKey(sid) + ":timeline" }
func (s *Service) pendingKey(shard int) string   { return s.tag(shard) + "work" }
func (s *Service) heldKey(shard int) string      { return s.tag(shard) + "held" }
func (s *Service) accountIndexKey(shard int, account string) string {
	return s.tag(shard) + "held-by:" + account
}

// legacyPendingKey is the shard's stream of the entries gateways wrote
// before the one-entry format (pending.go): one per piece of work. A new
// key for the new format keeps an older relay, still running during a
// rolling upgrade, from reading an entry it cannot decode (it would drop
// it as poison, losing its events and audit entry); the relay drains what
// older gateways leave here (Relay.legacy).
func (s *Service) legacyPendingKey(shard int) string { return s.tag(shard) + "pending" }

// commitScript is the one commit path of every order state change: a
// compare-and-set on the record's version that, in one step, writes the
// record, appends the timeline line, appends the change's events, audit
// entry and other side work to the shard's pending stream (the relay
// moves them on), and keeps the shard's held index (for expiry) and
// account index (for email verification and KYC, identity.go) in step.
//
// KEYS: record, timeline, pending stream, held index, account index.
// ARGV: expected version ("0": the record must not exist), new version,
// record JSON, fingerprint ("" keeps it), retention (ms), hold deadline
// (unix ms; "" removes the order from the held index), screening id,
// account index action ("add", "rem" or ""), timeline entry, then the
// field and value pairs of the change's one pending entry (workFields).
//
// It returns 1 when committed, 0 when the record does not exist (and was
// expected to), else {version, record, fingerprint} of the stored record.
// XADD is the first write: Redis refuses a script for lack of memory only
// at its first write, and nothing else here can fail on valid keys, so a
// failed call leaves nothing behind.
var commitScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '0' then
  if cur then return {cur, redis.call('HGET', KEYS[1], 'record'), redis.call('HGET', KEYS[1], 'fp')} end
elseif not cur then
  return 0
elseif cur ~= ARGV[1] then
  return {cur, redis.call('HGET', KEYS[1], 'record'), redis.call('HGET', KEYS[1], 'fp')}
end
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 10))
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3], 'fp', ARGV[4])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[4], ARGV[7])
else
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
end
if ARGV[8] == 'add' then
  redis.call('SADD', KEYS[5], ARGV[7])
  redis.call('PEXPIRE', KEYS[5], ARGV[5])
elseif ARGV[8] == 'rem' then
  redis.call('SREM', KEYS[5], ARGV[7])
end
return 1
`)

// stored is a record found by a commit that could not apply.
type stored struct {
	version int64
	record  Record
	fp      string
}

// commit stores c on the record prev (nil: a new record with fingerprint
// fp) with its events and audit entry, plus the extra pending
// work. It returns nil, nil when committed; the stored record when the
// version differed (the caller decides again on it); an error wrapping
// screening.ErrNotFound when the record is gone.
func (s *Service) commit(ctx context.Context, prev *Record, c Change, fp, action string, extra ...pending) (*stored, error) {
	r := c.Next
	var expected int64
	if prev != nil {
		expected = prev.Version
	}
	sid := r.ScreeningID
	sh := shardOf(sid)
	c.Entry.Version = r.Version
	recJSON, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding order %s: %w", sid, err)
	}
	entryJSON, err := json.Marshal(c.Entry)
	if err != nil {
		return nil, fmt.Errorf("encoding timeline of order %s: %w", sid, err)
	}
	// The answer after the change, encoded once: the audit entry's after
	// (and, for a new order, the API's reply: create encodes it).
	answer := c.answer
	if answer == nil {
		answer, _ = json.Marshal(r.Answer())
	}
	work := make([]pending, 0, len(c.Events)+1+len(extra))
	if len(c.Events) > 0 {
		// Events carry the webhook-safe projection (eventdata.go), never
		// the answer's links or reasons' text.
		data, err := json.Marshal(eventData(r))
		if err != nil {
			return nil, fmt.Errorf("encoding the events of order %s: %w", sid, err)
		}
		for _, typ := range c.Events {
			work = append(work, pending{kindEvent, pendingEvent{Type: typ, Time: c.Entry.Time, Data: data}})
		}
	}
	work = append(work, pending{kindAudit, auditEntryOf(prev, c, answer, action, callerAddr(ctx))})
	work = append(work, extra...)

	held := ""
	if r.Status == StatusHeld {
		held = strconv.FormatInt(r.HoldUntil.UnixMilli(), 10)
	}
	acct, idx := "", s.accountIndexKey(sh, "")
	if ref := r.accountRef(); ref != "" {
		idx = s.accountIndexKey(sh, ref)
		acct = "rem"
		if r.Status == StatusHeld && (r.Requirements.EmailVerification == Pending || r.Requirements.KYC == Pending) {
			acct = "add"
		}
	}
	// Room for the entry's fields too: kind, head and three documents.
	args, err := appendWork(append(make([]any, 0, 9+10), expected, r.Version, recJSON, fp, s.retention.Milliseconds(), held, sid, acct, entryJSON), work)
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", sid, err)
	}
	keys := []string{s.recordKey(sid), s.timelineKey(sid), s.pendingKey(sh), s.heldKey(sh), idx}
	out, err := commitScript.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, unavailable("committing order "+sid, err)
	}
	switch out := out.(type) {
	case int64:
		if out == 0 {
			return nil, fmt.Errorf("order %s: %w", sid, screening.ErrNotFound)
		}
		return nil, nil
	case []any:
		st, err := decodeStored(sid, out)
		if err != nil {
			return nil, err
		}
		return &st, nil
	}
	return nil, fmt.Errorf("committing order %s: unexpected script answer %T", sid, out)
}

func decodeStored(sid string, vals []any) (stored, error) {
	if len(vals) < 2 {
		return stored{}, fmt.Errorf("reading order %s: short answer", sid)
	}
	v, _ := vals[0].(string)
	ver, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return stored{}, fmt.Errorf("decoding stored order %s version: %w", sid, err)
	}
	raw, _ := vals[1].(string)
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		// Not a Redis outage: the stored data is not ours or was damaged.
		return stored{}, fmt.Errorf("decoding stored order %s: %w", sid, err)
	}
	st := stored{version: ver, record: r}
	if len(vals) > 2 {
		st.fp, _ = vals[2].(string)
	}
	return st, nil
}

// accountRef names an account across owners: the same account id under
// two API keys is two accounts.
func accountRef(owner Owner, account string) string { return string(owner) + "/" + account }

// emailRef names the account of an order that came without an account id
// (an intercepted checkout whose form has none, say) by its owner and the
// keyed hash of its email address, so that its email verification can
// complete. No owner begins with "email:" (see Owner), so an email
// reference never names an account with an id.
func emailRef(owner Owner, emailHash string) string {
	return "email:" + string(owner) + "/" + emailHash
}

// refOf is the account reference of an order of owner with account id
// account and email hash emailHash: the account when it has an id, else its
// email address, else none ("").
func refOf(owner Owner, account, emailHash string) string {
	switch {
	case account != "":
		return accountRef(owner, account)
	case emailHash != "":
		return emailRef(owner, emailHash)
	}
	return ""
}

func unavailable(doing string, err error) error {
	return fmt.Errorf("%s: %w: %w", doing, screening.ErrUnavailable, err)
}
