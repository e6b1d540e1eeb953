package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// records implements consent.SharedKV. One namespace is one slot
// ({r:<ns>}): each record is a hash {v: value, x: expiry ms or 0} and the
// namespace's expiry index "x" lists every record (score +inf when it does
// not expire), which serves List and Purge.
type records struct{ s *Store }

// SharedKV returns the shared keyed space.
func (s *Store) SharedKV() consent.SharedKV { return records{s} }

// nsPattern keeps namespaces usable inside a hash tag.
var nsPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func recordPrefix(ns string) (string, error) {
	if !nsPattern.MatchString(ns) {
		return "", invalid(fmt.Sprintf("record namespace %q: want 1-64 of A-Z a-z 0-9 . _ -", ns))
	}
	return "pg:{r:" + ns + "}:", nil
}

func checkRecordKey(key string) error {
	if key == "" || len(key) > 1024 {
		return invalid(fmt.Sprintf("record key of %d bytes: want 1-1024", len(key)))
	}
	return nil
}

// luaRecordFresh (re)creates a record with its expiry and lists it in the
// namespace index: score +inf for a record that does not expire, which
// also keeps the index itself from expiring.
// Locals it reads: rec, idx, val, now, exp, grace, member.
const luaRecordFresh = `
redis.call('DEL', rec)
redis.call('HSET', rec, 'v', val, 'x', exp)
if exp == 0 then
  redis.call('ZADD', idx, '+inf', member)
  redis.call('PERSIST', idx)
else
  expire_in(rec, exp, now)
  local ttl = redis.call('PTTL', idx)
  redis.call('ZADD', idx, exp, member)
  if ttl ~= -1 then track(idx, member, exp, now, grace) end
end
`

// luaRecordLive: sets live when the record exists and has not expired by
// the store's clock. Locals it reads: rec, now.
const luaRecordLive = `
local x = redis.call('HGET', rec, 'x')
local live = x and (tonumber(x) == 0 or tonumber(x) > now)
`

// luaRecordPut stores a record, replacing or only when absent.
// KEYS: record, index. ARGV: value, now ms, expiry ms (0 = none), grace ms,
// member, only-if-absent (0/1).
// Returns 1 when stored.
var luaRecordPut = redis.NewScript(luaPrelude + `
local rec, idx, val, member = KEYS[1], KEYS[2], ARGV[1], ARGV[5]
local now, exp, grace = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
` + luaRecordLive + `
if live and ARGV[6] == '1' then return 0 end
` + luaRecordFresh + `
return 1
`)

// luaRecordIncr adds to a counter, creating it with its expiry when absent
// or expired; the expiry is not extended afterwards.
// KEYS: record, index. ARGV: delta, now ms, expiry ms (0 = none), grace ms, member.
var luaRecordIncr = redis.NewScript(luaPrelude + `
local rec, idx, val, member = KEYS[1], KEYS[2], ARGV[1], ARGV[5]
local now, exp, grace = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
` + luaRecordLive + `
if live then return redis.call('HINCRBY', rec, 'v', val) end
` + luaRecordFresh + `
return tonumber(val)
`)

func (r records) keys(ns, key string) (rec, index, member, prefix string, err error) {
	prefix, err = recordPrefix(ns)
	if err != nil {
		return
	}
	if err = checkRecordKey(key); err != nil {
		return
	}
	member = "k:" + key
	return prefix + member, prefix + "x", member, prefix, nil
}

func (r records) expiry(ttl time.Duration) (int64, error) {
	switch {
	case ttl < 0:
		return 0, invalid(fmt.Sprintf("negative ttl %s", ttl))
	case ttl == 0:
		return 0, nil
	}
	return ms(r.s.now().Add(ttl)), nil
}

func (r records) Get(ctx context.Context, ns, key string) ([]byte, error) {
	rec, _, _, _, err := r.keys(ns, key)
	if err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	vals, err := r.s.rdb.HMGet(ctx, rec, "v", "x").Result()
	if err != nil {
		return nil, fmt.Errorf("get record %s/%s: %w", ns, key, wrapErr(err))
	}
	v, ok := vals[0].(string)
	x, _ := vals[1].(string)
	if !ok || r.expired(x) {
		return nil, fmt.Errorf("get record %s/%s: %w", ns, key, consent.ErrNotFound)
	}
	return []byte(v), nil
}

// expired judges a record's expiry by the store's clock.
func (r records) expired(x string) bool {
	exp, err := strconv.ParseInt(x, 10, 64)
	return err != nil || (exp != 0 && exp <= ms(r.s.now()))
}

func (r records) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	_, err := r.put(ctx, ns, key, val, ttl, false)
	if err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	return nil
}

func (r records) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	ok, err := r.put(ctx, ns, key, val, ttl, true)
	if err != nil {
		return false, fmt.Errorf("put record if absent: %w", err)
	}
	return ok, nil
}

func (r records) put(ctx context.Context, ns, key string, val []byte, ttl time.Duration, onlyAbsent bool) (bool, error) {
	rec, index, member, prefix, err := r.keys(ns, key)
	if err != nil {
		return false, err
	}
	exp, err := r.expiry(ttl)
	if err != nil {
		return false, err
	}
	absent := "0"
	if onlyAbsent {
		absent = "1"
	}
	n, err := luaRecordPut.Run(ctx, r.s.rdb, []string{rec, index}, val, ms(r.s.now()), exp, grace(), member, absent).Int()
	if err != nil {
		return false, wrapErr(err)
	}
	if n == 1 && exp != 0 {
		if err := r.s.indexExpiry(ctx, prefix, exp); err != nil {
			return true, err
		}
	}
	return n == 1, nil
}

func (r records) Delete(ctx context.Context, ns, key string) error {
	rec, index, member, _, err := r.keys(ns, key)
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	_, err = r.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, rec)
		p.ZRem(ctx, index, member)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete record %s/%s: %w", ns, key, wrapErr(err))
	}
	return nil
}

func (r records) List(ctx context.Context, ns string) ([]string, error) {
	prefix, err := recordPrefix(ns)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	members, err := r.s.rdb.ZRangeByScore(ctx, prefix+"x", liveAfter(ms(r.s.now()))).Result()
	if err != nil {
		return nil, fmt.Errorf("list records %s: %w", ns, wrapErr(err))
	}
	out := make([]string, 0, len(members))
	for _, m := range members {
		if k, ok := strings.CutPrefix(m, "k:"); ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r records) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	rec, index, member, prefix, err := r.keys(ns, key)
	if err != nil {
		return 0, fmt.Errorf("increment record: %w", err)
	}
	exp, err := r.expiry(ttl)
	if err != nil {
		return 0, fmt.Errorf("increment record: %w", err)
	}
	n, err := luaRecordIncr.Run(ctx, r.s.rdb, []string{rec, index}, delta, ms(r.s.now()), exp, grace(), member).Int64()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("increment record %s/%s: no reply", ns, key)
		}
		return 0, fmt.Errorf("increment record %s/%s: %w", ns, key, wrapErr(err))
	}
	if exp != 0 {
		if err := r.s.indexExpiry(ctx, prefix, exp); err != nil {
			return n, fmt.Errorf("increment record %s/%s: %w", ns, key, err)
		}
	}
	return n, nil
}
