-- Velocity counters: sliding windows over sorted sets, one call per order.
-- See doc.go for the design; velocity.go builds KEYS and ARGV.
--
-- ARGV: now cap ttl span nwin {start_i gran_i}*nwin {op member}*
--   now      the caller's clock, unix ms (the score of new entries)
--   cap      MaxEntries: most entries kept in one sorted set
--   ttl      ms; every key written gets this TTL (the longest window)
--   span     most overflow buckets kept per window (buckets per window + 2)
--   start_i  now - window_i in ms, windows ascending (the last is the longest)
--   gran_i   overflow bucket width of window i in ms
-- ops, each consuming KEYS in order:
--   g -       guard, first op only: when KEYS g exists, do nothing and
--             return an empty array (the order is already stored)
--   c member  count member (an order id hash) in counter KEYS z, o
--   r -       read counter KEYS z, o without adding
--   d member  add member (an identifier hash) to distinct set KEYS d
-- Returns nwin integers per op but g, in op order.
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local ttl = ARGV[3]
local span = tonumber(ARGV[4])
local nwin = tonumber(ARGV[5])
local start, xstart, nstart, gran = {}, {}, {}, {}
for i = 1, nwin do
  start[i] = ARGV[4 + 2 * i]
  xstart[i] = '(' .. start[i]
  nstart[i] = tonumber(start[i])
  gran[i] = tonumber(ARGV[5 + 2 * i])
end
local oldest = start[nwin]
local first = 6 + 2 * nwin

-- Check the whole call before writing anything, so that a malformed call
-- fails without effect.
local need = 0
for a = first, #ARGV, 2 do
  local op = ARGV[a]
  if op == 'c' or op == 'r' then need = need + 2
  elseif op == 'd' or (op == 'g' and a == first) then need = need + 1
  else return redis.error_reply('ERR velocity: unknown op ' .. tostring(op)) end
end
if need ~= #KEYS or (#ARGV - first + 1) % 2 ~= 0 then
  return redis.error_reply('ERR velocity: KEYS and ops disagree')
end

local out = {}

-- Overflow buckets of a hot key (hash o): per window i, fields 'i:b' count
-- the evicted entries whose time falls in bucket b (width gran[i]), 'ni' is
-- their sum, 'ei' and 'hi' the lowest and highest bucket stored. Buckets that
-- fall out of the window are subtracted and deleted; the bucket holding the
-- window start is counted whole (the documented over-count).
local function overflow(o, evicted)
  local names = {}
  for i = 1, nwin do
    names[#names + 1] = 'n' .. i
    names[#names + 1] = 'e' .. i
    names[#names + 1] = 'h' .. i
  end
  local m = redis.call('HMGET', o, unpack(names))
  local sums, meta, del = {}, {}, {}
  local dirty = false
  for i = 1, nwin do
    local n = tonumber(m[3 * i - 2]) or 0
    local e, h = tonumber(m[3 * i - 1]), tonumber(m[3 * i])
    local g = gran[i]
    local sb = math.floor(nstart[i] / g)
    if e and sb > e then
      local gone = {}
      for b = e, math.min(sb - 1, h) do gone[#gone + 1] = i .. ':' .. b end
      local vals = redis.call('HMGET', o, unpack(gone))
      for j = 1, #gone do
        n = n - (tonumber(vals[j]) or 0)
        del[#del + 1] = gone[j]
      end
      if sb > h then e, h, n = nil, nil, 0 else e = sb end
      dirty = true
    end
    if evicted then
      local inc = {}
      for j = 1, #evicted do
        local ts = evicted[j]
        if ts > nstart[i] then
          local b = math.floor(ts / g)
          -- Keep e..h within span buckets whatever clocks callers have, so
          -- that expiring them stays a bounded loop.
          if e then b = math.max(e, math.min(b, e + span)) end
          -- String keys: a sparse integer key would grow some Lua
          -- implementations' array part (the embedded server's).
          local f = i .. ':' .. b
          inc[f] = (inc[f] or 0) + 1
          n = n + 1
          if not e or b < e then e = b end
          if not h or b > h then h = b end
        end
      end
      for f, c in pairs(inc) do
        redis.call('HINCRBY', o, f, c)
        dirty = true
      end
    end
    sums[i] = n
    meta[#meta + 1] = 'n' .. i
    meta[#meta + 1] = n
    meta[#meta + 1] = 'e' .. i
    meta[#meta + 1] = e or ''
    meta[#meta + 1] = 'h' .. i
    meta[#meta + 1] = h or ''
  end
  if #del > 0 then redis.call('HDEL', o, unpack(del)) end
  if dirty then
    redis.call('HSET', o, unpack(meta))
    redis.call('PEXPIRE', o, ttl)
  end
  return sums
end

-- counts appends, for each window, how many of the card members of sorted
-- set key are in it (plus the overflow sums of a hot key). zmin is the oldest
-- score kept: a window starting before it holds every member, without a
-- ZCOUNT.
local function counts(key, card, zmin, sums)
  for i = 1, nwin do
    local c
    if zmin > nstart[i] then
      c = card
      if sums then c = c + sums[i] end
    else
      c = redis.call('ZCOUNT', key, xstart[i], '+inf')
    end
    out[#out + 1] = c
  end
end

-- oldest_score returns the lowest score of sorted set key, nil if empty.
local function oldest_score(key)
  local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(r[2])
end

-- A counter: sorted set z of order id hashes scored by time, at most cap of
-- the newest; older ones overflow into buckets in o. Overflowed entries are
-- all older than the oldest kept (zmin): they count only in windows that
-- reach further back.
local function counter(z, o, member)
  local card, zmin
  if member then
    -- Trim only when the oldest entry has left the longest window; else
    -- the oldest score read here stays the oldest (new entries are "now").
    zmin = oldest_score(z)
    if zmin and zmin <= nstart[nwin] then
      redis.call('ZREMRANGEBYSCORE', z, '-inf', oldest)
      zmin = nil
    end
    local added = redis.call('ZADD', z, 'NX', ARGV[1], member)
    card = redis.call('ZCARD', z)
    local evicted
    if added == 1 and card > cap then
      -- At most 100 per call, should MaxEntries have been lowered a lot.
      local pop = redis.call('ZPOPMIN', z, math.min(card - cap, 100))
      evicted = {}
      for j = 2, #pop, 2 do evicted[#evicted + 1] = tonumber(pop[j]) end
      card = card - #evicted
      zmin = nil
    end
    redis.call('PEXPIRE', z, ttl)
    if card == 1 and added == 1 then
      zmin = now -- the only member is the one just added
    elseif not zmin then
      zmin = oldest_score(z)
    elseif added == 1 and now < zmin then
      zmin = now -- a caller with a slower clock
    end
    local sums
    if card >= cap then sums = overflow(o, evicted) end
    counts(z, card, zmin, sums)
    return
  end
  -- Reads do not trim: windows reaching past zmin use ZCOUNT.
  card = redis.call('ZCARD', z)
  if card == 0 then
    for i = 1, nwin do out[#out + 1] = 0 end
    return
  end
  zmin = oldest_score(z)
  local sums
  if card >= cap then sums = overflow(o, nil) end
  counts(z, card, zmin, sums)
end

-- A distinct set: members scored by when last seen, at most cap of the most
-- recently seen.
local function distinct(d, member)
  redis.call('ZREMRANGEBYSCORE', d, '-inf', oldest)
  redis.call('ZADD', d, 'GT', ARGV[1], member)
  local card = redis.call('ZCARD', d)
  if card > cap then
    redis.call('ZREMRANGEBYRANK', d, 0, card - cap - 1)
    card = cap
  end
  redis.call('PEXPIRE', d, ttl)
  -- A lone member was just seen (GT keeps a later score): in every window.
  local zmin = now
  if card > 1 then zmin = oldest_score(d) end
  counts(d, card, zmin, nil)
end

local k = 1
for a = first, #ARGV, 2 do
  local op = ARGV[a]
  if op == 'g' then
    if redis.call('EXISTS', KEYS[k]) == 1 then return {} end
    k = k + 1
  elseif op == 'c' then
    counter(KEYS[k], KEYS[k + 1], ARGV[a + 1])
    k = k + 2
  elseif op == 'r' then
    counter(KEYS[k], KEYS[k + 1], nil)
    k = k + 2
  else
    distinct(KEYS[k], ARGV[a + 1])
    k = k + 1
  end
end
return out
