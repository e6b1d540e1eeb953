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

// luaAuditAppend: KEYS: log, head. ARGV: expected head (empty when none),
// seq, entry JSON, new head. Returns 1 when appended, 0 when the head moved.
var luaAuditAppend = redis.NewScript(`
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
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

func parseAnchor(s string) (consent.AuditAnchor, error) {
	var a consent.AuditAnchor
	if s == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, fmt.Errorf("stored audit anchor is malformed: %w", err)
	}
	return a, nil
}

// getString reads a string key; a missing key is "".
func getString(ctx context.Context, rdb redis.UniversalClient, key string) (string, error) {
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrapErr(err)
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
		next := s.o.Audit.Next(head, e, s.now())
		body, err := json.Marshal(next)
		if err != nil {
			return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
		}
		ok, err := luaAuditAppend.Run(ctx, s.rdb, []string{keyAuditLog, keyAuditHead},
			raw, next.Seq, string(body), anchorValue(consent.AuditAnchor{Seq: next.Seq, MAC: next.MAC})).Int()
		if err != nil {
			return consent.AuditEntry{}, fmt.Errorf("append audit entry: %w", wrapErr(err))
		}
		if ok == 1 {
			return next, nil
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
	var head, anchor *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		head = p.Get(ctx, keyAuditHead)
		anchor = p.Get(ctx, keyAuditAnchor)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return consent.AuditVerification{}, fmt.Errorf("verify audit log: %w", wrapErr(err))
	}
	h, err := parseAnchor(head.Val())
	if err != nil {
		return consent.AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	a, err := parseAnchor(anchor.Val())
	if err != nil {
		return consent.AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	// Entries are read in stored order, so that one moved to another
	// place is seen there.
	raws, err := s.rdb.ZRangeWithScores(ctx, keyAuditLog, 0, -1).Result()
	if err != nil {
		return consent.AuditVerification{}, fmt.Errorf("verify audit log: %w", wrapErr(err))
	}
	entries := make([]consent.AuditEntry, 0, len(raws))
	for _, z := range raws {
		var e consent.AuditEntry
		raw, _ := z.Member.(string)
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			// Garbage where an entry was: it cannot verify, so it is
			// reported as changed at the place it sits.
			e = consent.AuditEntry{Seq: uint64(z.Score)}
		}
		entries = append(entries, e)
	}
	return s.o.Audit.Verify(a, entries, h), nil
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
		last.Seq, anchorValue(consent.AuditAnchor{Seq: last.Seq, MAC: last.MAC})).Err()
	return n, wrapErr(err)
}
