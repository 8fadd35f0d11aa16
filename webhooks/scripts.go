package webhooks

import "github.com/redis/go-redis/v9"

// Every key of the delivery state carries the hash tag {wh}: one slot on a
// Redis Cluster, so each script below is one atomic step there as on a
// standalone server. Keys (after the prefix):
//
//	d:<id>      hash: one delivery (endpoint, event, body, state, counts)
//	a:<id>      list: its attempts, newest first, bounded
//	q:<ep>      stream: the endpoint's ready deliveries (consumer group "senders")
//	r:<ep>      sorted set: deliveries waiting for a retry, by due time
//	p:<ep>      sorted set: undelivered deliveries, by creation (depth, oldest age)
//	x:<ep>      sorted set: dead letters, by when they died
//	ep:<ep>     hash: the endpoint's state (disabled after a 410)
//	i:all       sorted set: every delivery, by creation (the API's listing)
//	i:e:<ep>    sorted set: the endpoint's deliveries
//	i:o:<sid>   sorted set: an order's deliveries
const sendersGroup = "senders"

// fanoutScript creates the deliveries of a batch of events, each unless it
// exists (a batch read again after a crash creates nothing twice). KEYS, 6
// per delivery: record, queue, pending, index, endpoint index, order index.
// ARGV, 8 per delivery: id, endpoint, event id, type, event time, order,
// body, created (ms), then the retention (ms) last.
var fanoutScript = redis.NewScript(`
local n = 0
local retention = ARGV[#ARGV]
for i = 0, (#KEYS / 6) - 1 do
  local k, a = i * 6, i * 8
  if redis.call('EXISTS', KEYS[k + 1]) == 0 then
    redis.call('XADD', KEYS[k + 2], '*', 'id', ARGV[a + 1])
    redis.call('HSET', KEYS[k + 1], 'id', ARGV[a + 1], 'endpoint', ARGV[a + 2], 'event', ARGV[a + 3], 'type', ARGV[a + 4],
      'time', ARGV[a + 5], 'order', ARGV[a + 6], 'body', ARGV[a + 7], 'created', ARGV[a + 8], 'state', 'pending',
      'attempts', 0, 'round', 0)
    redis.call('ZADD', KEYS[k + 3], ARGV[a + 8], ARGV[a + 1])
    redis.call('ZADD', KEYS[k + 4], ARGV[a + 8], ARGV[a + 1])
    redis.call('ZADD', KEYS[k + 5], ARGV[a + 8], ARGV[a + 1])
    if ARGV[a + 6] ~= '' then
      redis.call('ZADD', KEYS[k + 6], ARGV[a + 8], ARGV[a + 1])
      redis.call('PEXPIRE', KEYS[k + 6], retention)
    end
    n = n + 1
  end
end
return n
`)

// beginScript starts an attempt at the delivery of a queue entry. "ok"
// (with body, round): the entry is still this worker's, and claiming it
// again restarts its idle time (an entry that waited behind slow attempts
// is not taken over mid-send). "lost": another worker took it over.
// "gone": the delivery is no longer pending (delivered, dead or expired);
// the entry is dropped. "parked": the endpoint is disabled; the delivery
// waits in the retry set until it is enabled. KEYS: queue, record,
// endpoint state, retry. ARGV: entry, consumer, delivery id, now (ms).
var beginScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], '` + sendersGroup + `', ARGV[1], ARGV[1], 1, ARGV[2])
if #p == 0 then return {'lost'} end
if redis.call('HGET', KEYS[2], 'state') ~= 'pending' then
  redis.call('XACK', KEYS[1], '` + sendersGroup + `', ARGV[1])
  redis.call('XDEL', KEYS[1], ARGV[1])
  return {'gone'}
end
if redis.call('HGET', KEYS[3], 'disabled') == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
  redis.call('XACK', KEYS[1], '` + sendersGroup + `', ARGV[1])
  redis.call('XDEL', KEYS[1], ARGV[1])
  return {'parked'}
end
redis.call('XCLAIM', KEYS[1], '` + sendersGroup + `', ARGV[2], 0, ARGV[1], 'JUSTID')
local r = redis.call('HMGET', KEYS[2], 'body', 'round')
return {'ok', r[1], r[2] or '0'}
`)

// finishScript records an attempt and its outcome, and drops the queue
// entry, in one step. outcome "ok": delivered. "retry": a failure, retried
// after delay unless the schedule is spent (then a dead letter). "gone":
// as retry, and the endpoint is disabled (410 Gone). A delivery no longer
// pending (a duplicate entry delivered by another worker) only gets the
// attempt recorded. KEYS: queue, record, attempts, retry, pending, dead,
// endpoint state. ARGV: entry, id, now (ms), outcome, delay (ms), attempt
// JSON, retention (ms), attempts kept, status, error, schedule length.
var finishScript = redis.NewScript(`
redis.call('XACK', KEYS[1], '` + sendersGroup + `', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return {'gone'} end
redis.call('LPUSH', KEYS[3], ARGV[6])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[8]) - 1)
if redis.call('HGET', KEYS[2], 'state') ~= 'pending' then
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
  return {'duplicate'}
end
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
local round = redis.call('HINCRBY', KEYS[2], 'round', 1)
redis.call('HSET', KEYS[2], 'last_status', ARGV[9], 'last_error', ARGV[10], 'last_at', ARGV[3])
local now = tonumber(ARGV[3])
if ARGV[4] == 'ok' then
  redis.call('HSET', KEYS[2], 'state', 'delivered', 'delivered_at', ARGV[3])
  redis.call('HDEL', KEYS[2], 'next_at')
  redis.call('ZREM', KEYS[5], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
  return {'delivered'}
end
if ARGV[4] == 'gone' then
  redis.call('HSET', KEYS[7], 'disabled', '1', 'disabled_at', ARGV[3], 'reason', ARGV[10])
end
if round > tonumber(ARGV[11]) then
  redis.call('HSET', KEYS[2], 'state', 'dead', 'dead_at', ARGV[3])
  redis.call('HDEL', KEYS[2], 'next_at')
  redis.call('ZREM', KEYS[5], ARGV[2])
  redis.call('ZADD', KEYS[6], ARGV[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
  return {'dead'}
end
local due = string.format('%.0f', now + tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], 'next_at', due)
redis.call('ZADD', KEYS[4], due, ARGV[2])
return {'retry'}
`)

// promoteScript moves due retries into the queue, unless the endpoint is
// disabled. KEYS: retry, queue, endpoint state. ARGV: now (ms), limit.
var promoteScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], 'disabled') == '1' then return 0 end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
`)

// replayScript queues a delivery again with a fresh retry schedule and the
// same id: a delivered or dead one becomes pending; a pending one waiting
// for its retry is queued now. "queued" when a pending delivery is already
// in the queue or being attempted (nothing done), "missing" when there is
// no such delivery. KEYS: record, queue, retry, pending, dead, attempts.
// ARGV: id.
var replayScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st == 'pending' then
  if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 'queued' end
else
  redis.call('HSET', KEYS[1], 'state', 'pending')
  redis.call('HDEL', KEYS[1], 'delivered_at', 'dead_at')
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[6])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZADD', KEYS[4], redis.call('HGET', KEYS[1], 'created'), ARGV[1])
end
redis.call('HSET', KEYS[1], 'round', 0)
redis.call('HDEL', KEYS[1], 'next_at')
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
return 'replayed'
`)
