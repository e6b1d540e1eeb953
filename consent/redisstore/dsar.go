package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// Export gathers everything held about one key (R11): state, evidence,
// opens still within retention, deliverability date, last consent request.
func (s *Store) Export(ctx context.Context, k consent.Key) (consent.Export, error) {
	r := recipient(k)
	now := s.now()
	var stCmd, delivCmd, askedCmd *redis.StringCmd
	var histCmd, opensCmd *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		stCmd = p.Get(ctx, r.state())
		histCmd = p.LRange(ctx, r.history(), 0, -1)
		delivCmd = p.Get(ctx, r.deliverability())
		askedCmd = p.Get(ctx, r.asked())
		opensCmd = p.ZRangeByScore(ctx, r.expiry(), liveAfter(ms(now)))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return consent.Export{}, fmt.Errorf("export: %w", wrapErr(err))
	}
	st, err := getState(stCmd)
	if err != nil {
		return consent.Export{}, fmt.Errorf("export: %w", err)
	}
	hist, err := decodeHistory(histCmd.Val())
	if err != nil {
		return consent.Export{}, fmt.Errorf("export: %w", err)
	}
	out := consent.Export{Key: k.String(), State: st.state.String(), History: []consent.ExportEvent{}, Opens: []consent.ExportCampaign{}}
	for _, e := range hist {
		out.History = append(out.History, consent.ExportEvent{Event: e, StateName: e.State.String()})
	}
	out.LastDeliverable = delivCmd.Val()
	if a, err := askedCmd.Int64(); err == nil {
		out.LastAskedConsent = fromMS(a)
	}
	keys, _ := indexed(r.prefix, "o:", opensCmd.Val())
	recs, err := s.hashes(ctx, keys)
	if err != nil {
		return consent.Export{}, fmt.Errorf("export opens: %w", err)
	}
	for _, v := range recs {
		if len(v) == 0 {
			continue
		}
		ec := consent.ExportCampaign{Campaign: v["c"], Opens: counter(v, kindOpen), Clicks: counter(v, kindClick)}
		if ns, err := strconv.ParseInt(v["f"], 10, 64); err == nil {
			ec.FirstOpen = timeFromNS(ns)
		}
		out.Opens = append(out.Opens, ec)
	}
	slices.SortFunc(out.Opens, func(a, b consent.ExportCampaign) int { return a.FirstOpen.Compare(b.FirstOpen) })
	return out, nil
}

// Erase removes everything about a key but a withdrawn tombstone, so the
// address is never tracked or asked again (R11, R3).
func (s *Store) Erase(ctx context.Context, k consent.Key, ev consent.Evidence) error {
	if ev.Source == "" {
		ev.Source = consent.SourceErasure
	}
	e, err := s.newEvent(consent.Withdrawn, ev)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	r := recipient(k)
	tomb := stateValue{state: consent.Withdrawn, since: e.At, tombstone: true}
	was, err := luaErase.Run(ctx, s.rdb, []string{r.state(), r.history(), r.asked(), r.deliverability(), r.expiry()}, tomb.String()).Int()
	if err != nil {
		return fmt.Errorf("erase: %w", wrapErr(err))
	}
	// Totals count keys per state: the tombstone is a withdrawn key.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if was != 0 {
			p.HIncrBy(ctx, keyCurrent, strconv.Itoa(was), -1)
		}
		p.HIncrBy(ctx, keyCurrent, stateField(consent.Withdrawn), 1)
		if consent.State(was) == consent.Granted {
			p.HIncrBy(ctx, consentDay(consent.Day(e.At)), string(e.Source)+"|"+stateField(consent.Withdrawn), 1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erase: update totals: %w", wrapErr(err))
	}
	return nil
}
