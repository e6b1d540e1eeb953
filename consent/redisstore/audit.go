package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// The audit log (R10) is one slot: a sorted set of JSON entries scored by
// sequence number, the head anchor (last entry) and the anchor the first
// remaining entry chains from once old entries are purged.
//
// Appending is a compare-and-set on the head: the MAC is computed here from
// the head that was read, and the script stores the entry only if the head
// is still that one. Concurrent replicas retry, so the chain stays in order.

// maxAppendAttempts bounds the compare-and-set retries of one append.
const maxAppendAttempts = 100

// auditPage is how many entries one read fetches.
const auditPage = 512

// luaAuditWrite writes entries, the head and optionally the anchor, as a
// compare-and-set: only if the head (and, when asked, the anchor and the
// last entry's seq) are still what the caller read and chained from.
// KEYS: log, head, anchor. ARGV: expected head (” when none), expected
// anchor ('-' = do not check, ” = none), expected last seq ('-' = do not
// check, ” = empty log), new head, new anchor ('-' = leave), then seq and
// entry JSON pairs. Returns 1 when written, 0 when something moved.
var luaAuditWrite = redis.NewScript(`
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
if ARGV[2] ~= '-' and (redis.call('GET', KEYS[3]) or '') ~= ARGV[2] then return 0 end
if ARGV[3] ~= '-' then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if (last[2] or '') ~= ARGV[3] then return 0 end
end
for i = 6, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i+1])
end
redis.call('SET', KEYS[2], ARGV[4])
if ARGV[5] ~= '-' then redis.call('SET', KEYS[3], ARGV[5]) end
return 1
`)

// luaAuditTrim removes entries up to a sequence and moves the anchor there.
// KEYS: log, anchor. ARGV: last removed seq, new anchor.
var luaAuditTrim = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
`)

func anchorValue(a consent.AuditAnchor) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// parseAnchor reads a head or anchor record; nil when the store holds none.
func parseAnchor(s string) (*consent.AuditAnchor, error) {
	if s == "" {
		return nil, nil
	}
	var a consent.AuditAnchor
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("stored audit anchor is malformed: %w", err)
	}
	return &a, nil
}

// getString reads a string key; a missing key is "".
func getString(ctx context.Context, rdb redis.UniversalClient, key string) (string, error) {
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrapErr(err)
}

// auditWrite is one compare-and-set of luaAuditWrite.
type auditWrite struct {
	head, anchor, lastSeq string // as read; "-" = not checked
	newHead               consent.AuditAnchor
	newAnchor             *consent.AuditAnchor
	entries               []consent.AuditEntry
}

func (w auditWrite) run(ctx context.Context, rdb redis.Scripter) (bool, error) {
	newAnchor := "-"
	if w.newAnchor != nil {
		newAnchor = anchorValue(*w.newAnchor)
	}
	args := []any{w.head, w.anchor, w.lastSeq, anchorValue(w.newHead), newAnchor}
	for _, e := range w.entries {
		body, err := json.Marshal(e)
		if err != nil {
			return false, err
		}
		args = append(args, e.Seq, string(body))
	}
	ok, err := luaAuditWrite.Run(ctx, rdb, []string{keyAuditLog, keyAuditHead, keyAuditAnchor}, args...).Int()
	return ok == 1, wrapErr(err)
}

// lastEntry names the last stored entry (nil when none) and gives its seq
// as luaAuditWrite compares it. An entry that no longer parses still has its
// score, so the chain is never continued over it.
func (s *Store) lastEntry(ctx context.Context) (*consent.AuditAnchor, string, error) {
	last, err := s.rdb.ZRangeWithScores(ctx, keyAuditLog, -1, -1).Result()
	if err != nil || len(last) == 0 {
		return nil, "", wrapErr(err)
	}
	var e consent.AuditEntry
	raw, _ := last[0].Member.(string)
	_ = json.Unmarshal([]byte(raw), &e)
	seq := uint64(last[0].Score)
	return &consent.AuditAnchor{Seq: seq, MAC: e.MAC}, strconv.FormatUint(seq, 10), nil
}

// AppendAudit appends e to the chain and returns it completed.
func (s *Store) AppendAudit(ctx context.Context, e consent.AuditEntry) (consent.AuditEntry, error) {
	if e.Actor == "" || e.Action == "" {
		return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", invalid("an entry needs an actor and an action"))
	}
	for range maxAppendAttempts {
		raw, err := getString(ctx, s.rdb, keyAuditHead)
		if err != nil {
			return consent.AuditEntry{}, fmt.Errorf("append audit entry: read head: %w", err)
		}
		head, err := parseAnchor(raw)
		if err != nil {
			return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
		}
		w := auditWrite{head: raw, anchor: "-", lastSeq: "-"}
		var tail *consent.AuditAnchor
		if head == nil || !s.o.Audit.Sealed(consent.AuditHead, *head) {
			// Only then does the chain continue from the last entry,
			// which must then stay the last one until the write.
			if tail, w.lastSeq, err = s.lastEntry(ctx); err != nil {
				return consent.AuditEntry{}, fmt.Errorf("append audit entry: read last entry: %w", err)
			}
		}
		w.entries, w.newHead = s.o.Audit.Append(head, tail, e, s.now())
		ok, err := w.run(ctx, s.rdb)
		if err != nil {
			return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
		}
		if ok {
			return w.entries[len(w.entries)-1], nil
		}
	}
	return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w: the chain head kept moving (%d attempts)", consent.ErrUnavailable, maxAppendAttempts)
}

// auditRange reads entries with seq in (after, before) by page, in
// ascending or descending order, and calls fn until it returns false.
func (s *Store) auditRange(ctx context.Context, newest bool, after uint64, fn func(consent.AuditEntry) bool) error {
	lo, hi := "("+strconv.FormatUint(after, 10), "+inf"
	for {
		by := &redis.ZRangeBy{Min: lo, Max: hi, Count: auditPage}
		var page []string
		var err error
		if newest {
			page, err = s.rdb.ZRevRangeByScore(ctx, keyAuditLog, by).Result()
		} else {
			page, err = s.rdb.ZRangeByScore(ctx, keyAuditLog, by).Result()
		}
		if err != nil {
			return wrapErr(err)
		}
		for _, raw := range page {
			var e consent.AuditEntry
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			if !fn(e) {
				return nil
			}
			if newest {
				hi = "(" + strconv.FormatUint(e.Seq, 10)
			} else {
				lo = "(" + strconv.FormatUint(e.Seq, 10)
			}
		}
		if len(page) < auditPage {
			return nil
		}
	}
}

// ReadAudit returns entries matching q.
func (s *Store) ReadAudit(ctx context.Context, q consent.AuditQuery) ([]consent.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []consent.AuditEntry
	err := s.auditRange(ctx, q.Newest, q.AfterSeq, func(e consent.AuditEntry) bool {
		if matchAudit(q, e) {
			out = append(out, e)
		}
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

func matchAudit(q consent.AuditQuery, e consent.AuditEntry) bool {
	switch {
	case !q.Since.IsZero() && e.At.Before(q.Since),
		!q.Until.IsZero() && !e.At.Before(q.Until),
		q.Actor != "" && e.Actor != q.Actor,
		q.Action != "" && !strings.HasPrefix(e.Action, q.Action),
		q.Target != "" && e.Target != q.Target:
		return false
	}
	return true
}

// VerifyAudit checks the whole chain from the purge anchor to the head.
func (s *Store) VerifyAudit(ctx context.Context) (consent.AuditVerification, error) {
	stored, _, err := s.auditRecords(ctx)
	if err == nil {
		stored.Entries, err = s.auditEntries(ctx)
	}
	if err != nil {
		return consent.AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	return s.o.Audit.VerifyStored(stored, s.now(), s.o.Retention.Audit), nil
}

// auditRecords reads the head and anchor records, parsed and as read (for
// a compare-and-set).
func (s *Store) auditRecords(ctx context.Context) (consent.StoredAudit, [2]string, error) {
	var out consent.StoredAudit
	var raw [2]string
	var head, anchor *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		head = p.Get(ctx, keyAuditHead)
		anchor = p.Get(ctx, keyAuditAnchor)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return out, raw, wrapErr(err)
	}
	raw = [2]string{head.Val(), anchor.Val()}
	if out.Head, err = parseAnchor(raw[0]); err != nil {
		return out, raw, err
	}
	out.Start, err = parseAnchor(raw[1])
	return out, raw, err
}

// auditEntries reads every entry in stored order, so that one moved to
// another place is seen there.
func (s *Store) auditEntries(ctx context.Context) ([]consent.AuditEntry, error) {
	raws, err := s.rdb.ZRangeWithScores(ctx, keyAuditLog, 0, -1).Result()
	if err != nil {
		return nil, wrapErr(err)
	}
	out := make([]consent.AuditEntry, 0, len(raws))
	for _, z := range raws {
		var e consent.AuditEntry
		member, _ := z.Member.(string)
		if err := json.Unmarshal([]byte(member), &e); err != nil {
			// Garbage where an entry was: it cannot verify, so it is
			// reported as changed at the place it sits.
			e = consent.AuditEntry{Seq: uint64(z.Score)}
		}
		out = append(out, e)
	}
	return out, nil
}

// sealLegacyAudit seals the head and anchor an earlier version wrote
// without a MAC, recording that in the chain (R10); Open runs it. Replicas
// starting together race on a compare-and-set: one seals, the others then
// find sealed records. A log that does not verify against them is left as
// it is for VerifyAudit to report; the error is only for the caller to log.
func (s *Store) sealLegacyAudit(ctx context.Context) (bool, error) {
	stored, raw, err := s.auditRecords(ctx)
	if err != nil {
		return false, fmt.Errorf("seal audit log: %w", err)
	}
	if !consent.NeedsSeal(stored.Head, stored.Start) {
		return false, nil
	}
	if stored.Entries, err = s.auditEntries(ctx); err != nil {
		return false, fmt.Errorf("seal audit log: %w", err)
	}
	start, note, head, err := s.o.Audit.SealLegacy(stored, s.now())
	if err != nil {
		return false, err
	}
	w := auditWrite{head: raw[0], anchor: raw[1], lastSeq: "-", newHead: head, newAnchor: start, entries: []consent.AuditEntry{note}}
	ok, err := w.run(ctx, s.rdb)
	if err != nil {
		return false, fmt.Errorf("seal audit log: %w", err)
	}
	return ok, nil
}

// purgeAudit drops entries older than the audit retention (R9), oldest
// first, and moves the anchor to the last one dropped so the rest still
// verifies.
func (s *Store) purgeAudit(ctx context.Context) (int, error) {
	cutoff := s.now().Add(-s.o.Retention.Audit)
	var last *consent.AuditEntry
	n := 0
	err := s.auditRange(ctx, false, 0, func(e consent.AuditEntry) bool {
		if !e.At.Before(cutoff) {
			return false
		}
		last, n = &e, n+1
		return true
	})
	if err != nil || last == nil {
		return 0, err
	}
	err = luaAuditTrim.Run(ctx, s.rdb, []string{keyAuditLog, keyAuditAnchor},
		last.Seq, anchorValue(s.o.Audit.Trim(*last))).Err()
	return n, wrapErr(err)
}
