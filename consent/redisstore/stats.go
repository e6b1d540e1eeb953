package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// maxStatsDays bounds a ConsentStats range (one read per day).
const maxStatsDays = 3700

// Campaigns lists campaigns that had sends, most recent last send first.
func (s *Store) Campaigns(ctx context.Context) ([]consent.CampaignStats, error) {
	hashes, err := s.rdb.ZRevRange(ctx, keyCampaigns, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", wrapErr(err))
	}
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = campaignRef{hash: h}.meta()
	}
	metas, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]consent.CampaignStats, 0, len(hashes))
	for _, m := range metas {
		if len(m) != 0 {
			out = append(out, campaignStats(m))
		}
	}
	return out, nil
}

func campaignStats(m map[string]string) consent.CampaignStats {
	t := func(f string) time.Time {
		if m[f] == "" {
			return time.Time{}
		}
		return fromMS(counter(m, f))
	}
	return consent.CampaignStats{
		ID: m["id"], Name: m["name"], FirstSend: t("first"), LastSend: t("last"),
		SendsGranted: counter(m, "sg"), SendsNotGranted: counter(m, "sn"),
		UniqueOpens: counter(m, "u"+kindOpen), Opens: counter(m, kindOpen), MachineOpens: counter(m, kindMachine),
		UniqueClicks: counter(m, "u"+kindClick), Clicks: counter(m, kindClick),
	}
}

// Campaign returns one campaign with its hourly series (hours still within
// retention), oldest hour first.
func (s *Store) Campaign(ctx context.Context, id string) (consent.CampaignStats, error) {
	c := campaign(id)
	var meta *redis.MapStringStringCmd
	var hours *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HGetAll(ctx, c.meta())
		hours = p.ZRangeByScore(ctx, c.expiry(), liveAfter(ms(s.now())))
		return nil
	})
	if err != nil {
		return consent.CampaignStats{}, fmt.Errorf("read campaign: %w", wrapErr(err))
	}
	if len(meta.Val()) == 0 {
		return consent.CampaignStats{}, fmt.Errorf("read campaign: %w", consent.ErrNotFound)
	}
	st := campaignStats(meta.Val())
	keys, members := indexed(c.prefix(), "h:", hours.Val())
	counts, err := s.hashes(ctx, keys)
	if err != nil {
		return consent.CampaignStats{}, fmt.Errorf("read campaign hours: %w", err)
	}
	for i, m := range members {
		h, err := strconv.ParseInt(strings.TrimPrefix(m, "h:"), 10, 64)
		v := counts[i]
		if err != nil || len(v) == 0 {
			continue
		}
		st.Hourly = append(st.Hourly, consent.HourStat{Hour: fromMS(h), Opens: counter(v, kindOpen), MachineOpens: counter(v, kindMachine), Clicks: counter(v, kindClick)})
	}
	slices.SortFunc(st.Hourly, func(a, b consent.HourStat) int { return a.Hour.Compare(b.Hour) })
	return st, nil
}

// ConsentStats returns consent changes per UTC day and source in
// [from, to) and the number of keys currently in each state.
func (s *Store) ConsentStats(ctx context.Context, from, to time.Time) (consent.ConsentStats, error) {
	first := consent.Day(from)
	if !to.After(from) {
		return consent.ConsentStats{}, fmt.Errorf("consent statistics: empty range %s .. %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	var days []time.Time
	for d := first; d.Before(to); d = d.AddDate(0, 0, 1) {
		if len(days) == maxStatsDays {
			return consent.ConsentStats{}, fmt.Errorf("consent statistics: range longer than %d days", maxStatsDays)
		}
		days = append(days, d)
	}
	cmds := make([]*redis.MapStringStringCmd, len(days))
	var cur *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, d := range days {
			cmds[i] = p.HGetAll(ctx, consentDay(d))
		}
		cur = p.HGetAll(ctx, keyCurrent)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return consent.ConsentStats{}, fmt.Errorf("consent statistics: %w", wrapErr(err))
	}
	out := consent.ConsentStats{Current: map[consent.State]int64{}}
	for i, d := range days {
		bySource := map[consent.Source]*consent.ConsentDay{}
		for f, v := range cmds[i].Val() {
			src, stDigit, ok := strings.Cut(f, "|")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			cd := bySource[consent.Source(src)]
			if cd == nil {
				cd = &consent.ConsentDay{Day: d, Source: consent.Source(src)}
				bySource[consent.Source(src)] = cd
			}
			switch stDigit {
			case stateField(consent.Granted):
				cd.Grants += n
			case stateField(consent.Refused):
				cd.Refusals += n
			case stateField(consent.Withdrawn):
				cd.Withdrawals += n
			}
		}
		var row []consent.ConsentDay
		for _, cd := range bySource {
			row = append(row, *cd)
		}
		slices.SortFunc(row, func(a, b consent.ConsentDay) int { return strings.Compare(string(a.Source), string(b.Source)) })
		out.Days = append(out.Days, row...)
	}
	for f, v := range cur.Val() {
		st, err1 := strconv.Atoi(f)
		n, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil || n == 0 {
			continue
		}
		out.Current[consent.State(st)] = n
	}
	return out, nil
}
