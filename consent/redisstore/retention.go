package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// purgeBatch is how many due tags one Purge round handles.
const purgeBatch = 256

// Purge deletes everything whose retention has run out by the store's clock
// (R9): in production Redis' TTLs have usually done it already; Purge also
// corrects the per-state totals for consent that expired, and trims the
// audit log, which lives in one sorted set.
//
// It works in small rounds, each round trip bounded by Options.Timeout, so
// a large backlog is not one long blocking call.
func (s *Store) Purge(ctx context.Context) error {
	now := ms(s.now())
	nowS := strconv.FormatInt(now, 10)
	seen := map[string]bool{}
	defer func() {
		if len(seen) > 0 {
			// Counts only: a tag carries a recipient key, which has no
			// business in a log (R8).
			s.log.Info("retention purge", "tags", len(seen))
		}
	}()
	for {
		n, progress, err := s.purgeRound(ctx, now, nowS, seen)
		if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		if !progress || n < purgeBatch {
			break
		}
	}
	n, err := s.purgeAudit(ctx)
	if err != nil {
		return fmt.Errorf("purge audit log: %w", err)
	}
	if n > 0 {
		s.log.Info("retention purge of the audit log", "entries", n)
	}
	return nil
}

// purgeRound handles one batch of due tags; it reports how many were due
// and whether any was new to this Purge.
func (s *Store) purgeRound(ctx context.Context, now int64, nowS string, seen map[string]bool) (int, bool, error) {
	tags, err := s.rdb.ZRangeByScore(ctx, keyExpiryTags, &redis.ZRangeBy{Min: "-inf", Max: nowS, Count: purgeBatch}).Result()
	if err != nil {
		return 0, false, wrapErr(err)
	}
	progress := false
	for _, tag := range tags {
		if seen[tag] {
			continue
		}
		seen[tag], progress = true, true
		if err := s.purgeTag(ctx, tag, now); err != nil {
			return 0, false, err
		}
	}
	return len(tags), progress, nil
}

// purgeTag deletes one tag's due keys, corrects the state totals for
// consent states that expired, and reindexes the tag.
func (s *Store) purgeTag(ctx context.Context, tag string, now int64) error {
	if !strings.HasPrefix(tag, "pg:{") || !strings.HasSuffix(tag, "}:") {
		// Not something this store wrote: drop it rather than touch keys.
		return wrapErr(s.rdb.ZRem(ctx, keyExpiryTags, tag).Err())
	}
	res, err := luaPurgeTag.Run(ctx, s.rdb, []string{tag + "x"}, tag, now).Slice()
	if err != nil {
		return fmt.Errorf("tag %s: %w", tag, wrapErr(err))
	}
	if len(res) != 2 {
		return fmt.Errorf("tag %s: purge script returned %d values", tag, len(res))
	}
	due, _ := res[0].([]any)
	next, _ := res[1].(string)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range due {
			if st, ok := strings.CutPrefix(fmt.Sprint(m), "s:"); ok {
				// The key went back to None: it no longer counts (R9).
				p.HIncrBy(ctx, keyCurrent, st, -1)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tag %s: correct totals: %w", tag, wrapErr(err))
	}
	if err := luaReindex.Run(ctx, s.rdb, []string{keyExpiryTags}, tag, now, next).Err(); err != nil {
		return fmt.Errorf("tag %s: reindex: %w", tag, wrapErr(err))
	}
	return nil
}

// CheckFingerprint stores fp on first use and refuses a different one
// later: every replica and CLI call shares one set of secrets
// (operator guide §6).
func (s *Store) CheckFingerprint(ctx context.Context, fp string) error {
	if fp == "" {
		return fmt.Errorf("check secrets fingerprint: empty fingerprint")
	}
	set, err := s.rdb.SetNX(ctx, keyFingerprint, fp, 0).Result()
	if err != nil {
		return fmt.Errorf("check secrets fingerprint: %w", wrapErr(err))
	}
	if set {
		return nil
	}
	stored, err := getString(ctx, s.rdb, keyFingerprint)
	if err != nil {
		return fmt.Errorf("check secrets fingerprint: %w", err)
	}
	if stored != fp {
		return fmt.Errorf("check secrets fingerprint: %w: point every replica and CLI call at the same key files", consent.ErrSecretsMismatch)
	}
	return nil
}
