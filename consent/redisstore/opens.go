package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// Kinds of hit, as counter field names.
const (
	kindOpen    = "n"
	kindMachine = "m"
	kindClick   = "k"
)

// RecordOpen checks consent and records the open atomically: nothing is
// written unless consent is granted now (R1, R3).
func (s *Store) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	kind := kindOpen
	if o.Machine {
		kind = kindMachine
	}
	res, err := s.recordHit(ctx, o.Key, o.Campaign, o.At, kind)
	if err != nil {
		return consent.NotRecorded, fmt.Errorf("record open: %w", err)
	}
	return res, nil
}

// RecordClick is RecordOpen for pixelgate's click redirect (R12).
func (s *Store) RecordClick(ctx context.Context, c consent.Click) (consent.OpenResult, error) {
	res, err := s.recordHit(ctx, c.Key, c.Campaign, c.At, kindClick)
	if err != nil {
		return consent.NotRecorded, fmt.Errorf("record click: %w", err)
	}
	return res, nil
}

func (s *Store) recordHit(ctx context.Context, k consent.Key, campaignID string, at time.Time, kind string) (consent.OpenResult, error) {
	if campaignID == "" {
		return consent.NotRecorded, invalid("no campaign id")
	}
	if err := ctx.Err(); err != nil {
		return consent.NotRecorded, wrapErr(err)
	}
	now := s.now()
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	r, c := recipient(k), campaign(campaignID)
	hour := at.Truncate(time.Hour)
	// Retention runs from the hit that creates the record (R7, R9).
	openExp := ms(at.Add(s.o.Retention.Opens))
	hourExp := ms(hour.Add(s.o.Retention.Opens))
	atNS := strconv.FormatInt(at.UnixNano(), 10)

	if !s.cluster {
		res, err := luaOpenAll.Run(ctx, s.hot,
			[]string{r.state(), r.opens(c), r.expiry(), c.meta(), c.hour(hour), c.expiry(), keyExpiryTags},
			campaignID, openMember(c), atNS, openExp, ms(now), grace(), kind,
			hourMember(hour), hourExp).Int()
		if err != nil {
			return consent.NotRecorded, wrapErr(err)
		}
		return consent.OpenResult(res), nil
	}

	// Cluster: the recipient half is the atomic check-and-record; the
	// campaign half runs only when something was recorded.
	vals, err := luaOpenRecipient.Run(ctx, s.hot,
		[]string{r.state(), r.opens(c), r.expiry()},
		campaignID, openMember(c), atNS, openExp, ms(now), grace(), kind).Int64Slice()
	if err != nil {
		return consent.NotRecorded, wrapErr(err)
	}
	if len(vals) != 2 {
		return consent.NotRecorded, fmt.Errorf("open script returned %d values, want 2", len(vals))
	}
	res, created := consent.OpenResult(vals[0]), vals[1] == 1
	if res == consent.NotRecorded {
		return res, nil
	}
	first := "0"
	if res == consent.Recorded && kind != kindMachine {
		first = "1"
	}
	hcreated, err := luaOpenCampaign.Run(ctx, s.rdb,
		[]string{c.meta(), c.hour(hour), c.expiry()},
		campaignID, hourMember(hour), hourExp, ms(now), grace(), kind, first).Int()
	if err != nil {
		return res, fmt.Errorf("count %s in campaign totals: %w", res, wrapErr(err))
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if created {
			p.ZAddLT(ctx, keyExpiryTags, redis.Z{Score: float64(openExp), Member: r.prefix})
		}
		if hcreated == 1 {
			p.ZAddLT(ctx, keyExpiryTags, redis.Z{Score: float64(hourExp), Member: c.prefix()})
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("index expiry: %w", wrapErr(err))
	}
	return res, nil
}

// RecordDeliverabilityOpen overwrites the date of the last open; no time is
// kept (R4). Retention runs from that date.
func (s *Store) RecordDeliverabilityOpen(ctx context.Context, k consent.Key, day time.Time) error {
	if day.IsZero() {
		day = s.now()
	}
	d := consent.Day(day)
	exp := ms(d.Add(s.o.Retention.Deliverability))
	r := recipient(k)
	done, err := luaDeliverability.Run(ctx, s.rdb, []string{r.deliverability(), r.expiry(), r.state()},
		d.Format(time.DateOnly), ms(s.now()), exp, grace()).Int()
	if err != nil {
		return fmt.Errorf("record deliverability date: %w", wrapErr(err))
	}
	if done == 1 {
		if err := s.indexExpiry(ctx, r.prefix, exp); err != nil {
			return fmt.Errorf("record deliverability date: %w", err)
		}
	}
	return nil
}

// RecordSend counts the messages of a Send for its campaign, split by
// consent.
func (s *Store) RecordSend(ctx context.Context, snd consent.Send) error {
	if snd.Campaign == "" {
		return fmt.Errorf("record send: %w", invalid("no campaign id"))
	}
	n, err := snd.Messages()
	if err != nil {
		return fmt.Errorf("record send: %w", err)
	}
	at := snd.At
	if at.IsZero() {
		at = s.now()
	}
	granted := "0"
	if snd.Granted {
		granted = "1"
	}
	c := campaign(snd.Campaign)
	last, err := luaSend.Run(ctx, s.rdb, []string{c.meta()}, snd.Campaign, snd.CampaignName, ms(at), granted, n).Int64()
	if err != nil {
		return fmt.Errorf("record send: %w", wrapErr(err))
	}
	if err := s.rdb.ZAddGT(ctx, keyCampaigns, redis.Z{Score: float64(last), Member: c.hash}).Err(); err != nil {
		return fmt.Errorf("record send: list campaign: %w", wrapErr(err))
	}
	return nil
}
