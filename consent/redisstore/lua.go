package redisstore

import "github.com/redis/go-redis/v9"

// The Lua below runs inside Redis, one script per atomic operation.
// Times are passed in from the store's clock: ms for arithmetic (exact in a
// Lua double), ns strings where they are only stored. All keys a script
// touches share one hash tag, except where a comment says the script only
// runs outside Cluster.

// luaPrelude: helpers shared by the scripts.
//
// expire_in sets the Redis TTL to what remains until exp by the store's
// clock. track records in the tag's expiry index x that member expires at
// exp, and keeps x itself alive a grace period past its last member so that
// Purge can still read what expired (see expiryGrace).
const luaPrelude = `
local function expire_in(key, exp, now)
  local left = exp - now
  if left < 1 then left = 1 end
  redis.call('PEXPIRE', key, left)
end
local function track(x, member, exp, now, grace)
  redis.call('ZADD', x, exp, member)
  local last = redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')
  expire_in(x, tonumber(last[2]) + grace, now)
end
`

// luaDecide sets the consent state and appends the evidence (R2).
// KEYS: state, history, expiry index.
// ARGV: state value, event JSON, now ms, evidence expiry ms (0 while
// granted: consent that lasts is kept), grace ms.
// Returns the previous state digit (0 for none).
var luaDecide = redis.NewScript(luaPrelude + `
local old = redis.call('GET', KEYS[1])
local was = 0
if old then was = tonumber(string.sub(old, 1, 1)) end
local st = string.sub(ARGV[1], 1, 1)
local now, exp, grace = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
-- the request marker keeps its own expiry: EligibleToAsk weighs it
-- together with the state (R5).
redis.call('ZREM', KEYS[3], 's:1', 's:2', 's:3')
if exp == 0 then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
  redis.call('ZREM', KEYS[3], 'h')
else
  expire_in(KEYS[1], exp, now)
  expire_in(KEYS[2], exp, now)
  track(KEYS[3], 's:' .. st, exp, now, grace)
  track(KEYS[3], 'h', exp, now, grace)
end
return was
`)

// luaMarkAsked records a consent request (R5).
// KEYS: asked, expiry index. ARGV: now ms, quiet-period end ms, grace ms.
var luaMarkAsked = redis.NewScript(luaPrelude + `
local now, exp, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1])
expire_in(KEYS[1], exp, now)
track(KEYS[2], 'a', exp, now, grace)
return 1
`)

// luaDeliverability overwrites the last deliverability date (R4). An erased
// recipient is not recorded again.
// KEYS: deliverability, expiry index, state. ARGV: date, now ms, expiry ms, grace ms.
var luaDeliverability = redis.NewScript(luaPrelude + `
local st = redis.call('GET', KEYS[3])
if st and string.sub(st, -2) == '|e' then return 0 end
local now, exp, grace = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('SET', KEYS[1], ARGV[1])
expire_in(KEYS[1], exp, now)
track(KEYS[2], 'd', exp, now, grace)
return 1
`)

// The open path is the pixel endpoint's hot path, so its scripts are
// straight-line steps on locals rather than Lua functions (defining a
// function costs a closure on every call), a repeat open costs one call per
// key touched, and the helpers of luaPrelude are only defined in the rare
// branch that creates a record. Kinds: 'n' human open, 'm' machine open,
// 'k' click.
//
// luaOpenRecipientStep checks consent and, for a person's open or click,
// records it in the recipient's slot: nothing is written unless the state is
// granted at this moment (R1, R3). A counter that comes back as 1 is the
// only sign the record may be new; only then is its TTL looked at, and the
// expiry is set when the record is created, never moved by later opens
// (R7). Sets r: 0 not recorded, 1 first of its kind, 2 repeat; created: 1
// when the record was created.
// Locals it reads: ks, ko, kx, cid, member, at, exp, now, grace, kind.
const luaOpenRecipientStep = `
local r, created = 0, 0
local s = redis.call('GET', ks)
if s and string.sub(s, 1, 2) == '1|' then
  r = 1
  -- a prefetching proxy is not the person: counted on the campaign only
  if kind ~= 'm' then
    if redis.call('HINCRBY', ko, kind, 1) > 1 then
      r = 2
    elseif redis.call('PTTL', ko) == -1 then
` + luaPrelude + `
      created = 1
      redis.call('HSET', ko, 'c', cid, 'f', at)
      expire_in(ko, exp, now)
      track(kx, member, exp, now, grace)
    end
  end
end
`

// luaOpenCampaignStep adds to the campaign totals and the hourly counter;
// the hour's expiry is set when the hour is created. Sets hcreated.
// Locals it reads: km, kh, kcx, cid, hmember, hexp, now, grace, kind, first.
const luaOpenCampaignStep = `
local hcreated = 0
if redis.call('HINCRBY', km, kind, 1) == 1 then redis.call('HSETNX', km, 'id', cid) end
if first then redis.call('HINCRBY', km, 'u' .. kind, 1) end
if redis.call('HINCRBY', kh, kind, 1) == 1 and redis.call('PTTL', kh) == -1 then
` + luaPrelude + `
  hcreated = 1
  expire_in(kh, hexp, now)
  track(kcx, hmember, hexp, now, grace)
end
`

// luaOpenAll records an open in one step on a single server or Sentinel,
// where one script may span slots.
// KEYS: state, open record, recipient expiry index, campaign meta, hour,
// campaign expiry index, global expiry tags.
// ARGV: campaign id, open member, at ns, open expiry ms, now ms, grace ms,
// kind, hour member, hour expiry ms.
var luaOpenAll = redis.NewScript(`
local ks, ko, kx, km, kh, kcx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cid, member, at, exp, now, grace, kind = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local hmember, hexp = ARGV[8], tonumber(ARGV[9])
` + luaOpenRecipientStep + `
if r == 0 then return 0 end
local first = r == 1 and kind ~= 'm'
` + luaOpenCampaignStep + `
-- the tags' prefixes are their expiry index names without the final x
if created == 1 then redis.call('ZADD', KEYS[7], 'LT', exp, string.sub(kx, 1, -2)) end
if hcreated == 1 then redis.call('ZADD', KEYS[7], 'LT', hexp, string.sub(kcx, 1, -2)) end
return r
`)

// luaOpenRecipient is the recipient step alone (Cluster).
// KEYS: state, open record, recipient expiry index.
// ARGV: campaign id, open member, at ns, open expiry ms, now ms, grace ms, kind.
// Returns {r, created}.
var luaOpenRecipient = redis.NewScript(`
local ks, ko, kx = KEYS[1], KEYS[2], KEYS[3]
local cid, member, at, exp, now, grace, kind = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
` + luaOpenRecipientStep + `
return {r, created}
`)

// luaOpenCampaign is the campaign step alone (Cluster), run only after the
// recipient step recorded the open.
// KEYS: campaign meta, hour, campaign expiry index.
// ARGV: campaign id, hour member, hour expiry ms, now ms, grace ms, kind, first (0/1).
// Returns hcreated.
var luaOpenCampaign = redis.NewScript(`
local km, kh, kcx = KEYS[1], KEYS[2], KEYS[3]
local cid, hmember, hexp, now, grace, kind, first = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7] == '1'
` + luaOpenCampaignStep + `
return hcreated
`)

// luaSend counts messages for a campaign: no per-recipient send log.
// KEYS: campaign meta. ARGV: id, name (empty keeps the known one), at ms,
// granted (0/1), how many messages (>= 1).
var luaSend = redis.NewScript(`
local at = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'id', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[2]) end
local first = tonumber(redis.call('HGET', KEYS[1], 'first') or '')
if not first or at < first then redis.call('HSET', KEYS[1], 'first', ARGV[3]) end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '')
if not last or at > last then redis.call('HSET', KEYS[1], 'last', ARGV[3]) end
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[1], 'sg', ARGV[5]) else redis.call('HINCRBY', KEYS[1], 'sn', ARGV[5]) end
return redis.call('HGET', KEYS[1], 'last')
`)

// luaErase removes everything held about a recipient and leaves a
// withdrawn tombstone that never expires (R11).
// KEYS: state, history, asked, deliverability, expiry index.
// ARGV: tombstone value.
// Returns the previous state digit.
var luaErase = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
local was = 0
if old then was = tonumber(string.sub(old, 1, 1)) end
local prefix = string.sub(KEYS[5], 1, -2)
for _, m in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  if string.sub(m, 1, 2) == 'o:' then redis.call('DEL', prefix .. m) end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[1], ARGV[1])
return was
`)

// luaPurgeTag deletes what a tag's expiry index says is due.
// KEYS: expiry index. ARGV: tag prefix, now ms.
// Returns {due members, next expiry ms or false}.
var luaPurgeTag = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
for _, m in ipairs(due) do
  local suffix = m
  if string.sub(m, 1, 2) == 's:' then suffix = 's' end
  redis.call('DEL', ARGV[1] .. suffix)
end
if #due > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2]) end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {due, nxt[2] or false}
`)

// luaReindex moves a purged tag in the global index to its next expiry, or
// drops it, unless a writer already moved it.
// KEYS: global expiry tags. ARGV: tag prefix, now ms, next expiry ms or empty.
var luaReindex = redis.NewScript(`
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur or tonumber(cur) > tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`)
