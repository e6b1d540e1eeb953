package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// ledger implements consent.Ledger. One message is one hash in its own
// slot, pg:{l:<MessageID hex>}:m, so a script touches one slot (Cluster);
// its fields are recipient keys (hex), never addresses, and each value is
// "d|<expiry ms>" (delivered) or "c|<expiry ms>|<holder>" (claimed).
// Expiry is judged by the store's clock; the hash's own TTL follows its
// longest-lived field, so Redis drops a message's ledger by itself.
type ledger struct{ s *Store }

// Ledger returns the delivery ledger.
func (s *Store) Ledger() consent.Ledger { return ledger{s} }

func ledgerKey(m consent.MessageID) string { return "pg:{l:" + m.String() + "}:m" }

// luaLedger runs one ledger operation over the fields of one message.
// KEYS: the message hash. ARGV: op ('c' claim, 'd' delivered, 'r' release;
// Check reads without it), now ms, expiry ms of what op writes, holder, fields...
// Returns, per field, 0 free, 1 claimed, 2 delivered, 3 busy (claim), or
// nothing.
var luaLedger = redis.NewScript(`
local key, op, now, exp, holder = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out, wrote = {}, false
for i = 5, #ARGV do
  local f = ARGV[i]
  local v = redis.call('HGET', key, f)
  local kind, vexp, vholder
  if v then
    kind = string.sub(v, 1, 1)
    local rest = string.sub(v, 3)
    local bar = string.find(rest, '|', 1, true)
    if bar then
      vexp, vholder = tonumber(string.sub(rest, 1, bar - 1)), string.sub(rest, bar + 1)
    else
      vexp = tonumber(rest)
    end
    if not vexp or vexp <= now then kind = nil end
  end
  if op == 'd' then
    redis.call('HSET', key, f, 'd|' .. exp)
    wrote = true
  elseif op == 'r' then
    if kind == 'c' and vholder == holder then redis.call('HDEL', key, f) end
  else
    local st = 0
    if kind == 'd' then
      st = 2
    elseif kind == 'c' and vholder ~= holder then
      st = 3
    elseif op == 'c' then
      redis.call('HSET', key, f, 'c|' .. exp .. '|' .. holder)
      wrote, st = true, 1
    end
    out[#out + 1] = st
  end
end
if wrote then
  local left = exp - now
  if left < 1 then left = 1 end
  if redis.call('PTTL', key) < left then redis.call('PEXPIRE', key, left) end
end
return out
`)

func (l ledger) run(ctx context.Context, what, op string, m consent.MessageID, keys []consent.Key, exp time.Time, holder string) ([]consent.CopyState, error) {
	if len(keys) == 0 {
		return []consent.CopyState{}, nil
	}
	args := make([]any, 0, 4+len(keys))
	args = append(args, op, ms(l.s.now()), ms(exp), holder)
	for _, k := range keys {
		args = append(args, k.String())
	}
	res, err := luaLedger.Run(ctx, l.s.hot, []string{ledgerKey(m)}, args...).Int64Slice()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("%s: %w", what, wrapErr(err))
	}
	if op != "c" {
		return nil, nil
	}
	if len(res) != len(keys) {
		return nil, fmt.Errorf("%s: %d answers for %d copies", what, len(res), len(keys))
	}
	out := make([]consent.CopyState, len(keys))
	for i, v := range res {
		out[i] = [...]consent.CopyState{consent.CopyFree, consent.CopyClaimed, consent.CopyDelivered, consent.CopyBusy}[min(max(v, 0), 3)]
	}
	return out, nil
}

// Check reads the fields with one HMGET rather than the script: it writes
// nothing, and every single-recipient message asks it, where a script's
// cost inside redis-server (tens of µs against one or two) showed in the
// relay's throughput. The fields read as luaLedger reads them.
func (l ledger) Check(ctx context.Context, m consent.MessageID, keys []consent.Key) ([]consent.CopyState, error) {
	if len(keys) == 0 {
		return []consent.CopyState{}, nil
	}
	fields := make([]string, len(keys))
	for i, k := range keys {
		fields[i] = k.String()
	}
	vals, err := l.s.hot.HMGet(ctx, ledgerKey(m), fields...).Result()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("check delivery ledger: %w", wrapErr(err))
	}
	if len(vals) != len(keys) {
		return nil, fmt.Errorf("check delivery ledger: %d answers for %d copies", len(vals), len(keys))
	}
	now := ms(l.s.now())
	out := make([]consent.CopyState, len(keys))
	for i, v := range vals {
		out[i] = consent.CopyFree
		str, ok := v.(string)
		if !ok || len(str) < 3 || str[1] != '|' {
			continue
		}
		rest := str[2:]
		exp, _, _ := strings.Cut(rest, "|")
		e, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || e <= now {
			continue // expired or unreadable: free, as the script reads it
		}
		switch str[0] {
		case 'd':
			out[i] = consent.CopyDelivered
		case 'c':
			// A check holds no claim: any claim is another's.
			out[i] = consent.CopyBusy
		}
	}
	return out, nil
}

func (l ledger) Claim(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string, hold time.Duration) ([]consent.CopyState, error) {
	if err := consent.CheckLedgerArgs(holder, hold, true); err != nil {
		return nil, fmt.Errorf("claim delivery ledger: %w", err)
	}
	return l.run(ctx, "claim delivery ledger", "c", m, keys, l.s.now().Add(hold), holder)
}

func (l ledger) Delivered(ctx context.Context, m consent.MessageID, keys []consent.Key) error {
	_, err := l.run(ctx, "mark delivered in ledger", "d", m, keys, l.s.now().Add(l.s.o.Retention.Ledger), "")
	return err
}

func (l ledger) Release(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string) error {
	if err := consent.CheckLedgerArgs(holder, time.Second, true); err != nil {
		return fmt.Errorf("release delivery ledger: %w", err)
	}
	_, err := l.run(ctx, "release delivery ledger", "r", m, keys, l.s.now(), holder)
	return err
}
