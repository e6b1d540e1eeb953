package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// Campaign totals are stored as consent.CampaignStats in JSON, without the
// hourly series, which has its own bucket.

func readCampaign(tx *bolt.Tx, id string) (consent.CampaignStats, bool, error) {
	raw := tx.Bucket(bCampaigns).Get([]byte(id))
	c := consent.CampaignStats{ID: id}
	if raw == nil {
		return c, false, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, false, fmt.Errorf("decode campaign: %w", err)
	}
	return c, true, nil
}

// updateCampaign applies fn to a campaign's totals, creating it.
func updateCampaign(tx *bolt.Tx, id string, fn func(c *consent.CampaignStats)) error {
	c, _, err := readCampaign(tx, id)
	if err != nil {
		return err
	}
	fn(&c)
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode campaign: %w", err)
	}
	return tx.Bucket(bCampaigns).Put([]byte(id), raw)
}

// countHour adds to a campaign's counters of the hour of at: 0 opens,
// 1 machine opens, 2 clicks.
func countHour(tx *bolt.Tx, id string, at time.Time, which int) error {
	b, err := tx.Bucket(bHourly).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	k := unixKey(at.UTC().Truncate(time.Hour))
	c := decodeCounters(b.Get(k))
	c[which]++
	return b.Put(k, c.encode())
}

func granted(tx *bolt.Tx, k consent.Key) bool {
	return decodeStatus(tx.Bucket(bStatus).Get(k[:])).State == consent.Granted
}

// hit is what one open or click adds: which counter of the key's entry,
// the campaign totals and the hour.
type hit struct {
	op      string
	count   func(e *openEntry) (first bool)
	total   func(c *consent.CampaignStats, first bool)
	hourIdx int
}

var (
	humanOpen = hit{op: "record open", hourIdx: 0,
		count: func(e *openEntry) bool {
			e.Opens++
			return e.Opens == 1
		},
		total: func(c *consent.CampaignStats, first bool) {
			c.Opens++
			if first {
				c.UniqueOpens++
			}
		}}
	machineOpen = hit{op: "record open", hourIdx: 1,
		total: func(c *consent.CampaignStats, _ bool) { c.MachineOpens++ }}
	click = hit{op: "record click", hourIdx: 2,
		count: func(e *openEntry) bool {
			e.Clicks++
			return e.Clicks == 1
		},
		total: func(c *consent.CampaignStats, first bool) {
			c.Clicks++
			if first {
				c.UniqueClicks++
			}
		}}
)

// record checks consent and records one hit in one transaction, so a
// withdrawal committed before it wins (R3) and nothing at all is written
// without consent (R1). Machine opens touch no per-key data: they say
// nothing about a person.
func (s *Store) record(ctx context.Context, h hit, k consent.Key, campaign string, at time.Time) (consent.OpenResult, error) {
	if campaign == "" {
		return consent.NotRecorded, fmt.Errorf("%s: %w", h.op, invalid("no campaign"))
	}
	if at.IsZero() {
		at = s.now()
	}
	var res consent.OpenResult
	err := s.batch(ctx, h.op, func(tx *bolt.Tx) error {
		res = consent.NotRecorded
		if !granted(tx, k) {
			return nil
		}
		first := true
		if h.count != nil {
			ob := tx.Bucket(bOpens)
			ok := openKey(k, campaign)
			e := decodeOpenEntry(ob.Get(ok))
			if e.Created.IsZero() {
				e.Created = at // R7: only the first hit starts retention.
			}
			first = h.count(&e)
			if e.FirstOpen.IsZero() && e.Opens > 0 {
				e.FirstOpen = at
			}
			if err := ob.Put(ok, e.encode()); err != nil {
				return err
			}
		}
		res = consent.Repeat
		if first {
			res = consent.Recorded
		}
		if err := updateCampaign(tx, campaign, func(c *consent.CampaignStats) { h.total(c, first) }); err != nil {
			return err
		}
		return countHour(tx, campaign, at, h.hourIdx)
	})
	if err != nil {
		return consent.NotRecorded, err
	}
	return res, nil
}

// RecordOpen implements consent.Store.
func (s *Store) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	h := humanOpen
	if o.Machine {
		h = machineOpen
	}
	return s.record(ctx, h, o.Key, o.Campaign, o.At)
}

// RecordClick implements consent.Store.
func (s *Store) RecordClick(ctx context.Context, cl consent.Click) (consent.OpenResult, error) {
	return s.record(ctx, click, cl.Key, cl.Campaign, cl.At)
}

// RecordDeliverabilityOpen implements consent.Store: the UTC date only,
// overwritten (R4).
func (s *Store) RecordDeliverabilityOpen(ctx context.Context, k consent.Key, day time.Time) error {
	if day.IsZero() {
		day = s.now()
	}
	return s.batch(ctx, "record deliverability open", func(tx *bolt.Tx) error {
		return tx.Bucket(bDeliv).Put(k[:], unixKey(consent.Day(day)))
	})
}

// RecordSend implements consent.Store.
func (s *Store) RecordSend(ctx context.Context, sd consent.Send) error {
	if sd.Campaign == "" {
		return fmt.Errorf("record send: %w", invalid("no campaign"))
	}
	n, err := sd.Messages()
	if err != nil {
		return fmt.Errorf("record send: %w", err)
	}
	at := sd.At
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	return s.batch(ctx, "record send", func(tx *bolt.Tx) error {
		return updateCampaign(tx, sd.Campaign, func(c *consent.CampaignStats) {
			if sd.CampaignName != "" {
				c.Name = sd.CampaignName
			}
			if c.FirstSend.IsZero() || at.Before(c.FirstSend) {
				c.FirstSend = at
			}
			if at.After(c.LastSend) {
				c.LastSend = at
			}
			if sd.Granted {
				c.SendsGranted += n
			} else {
				c.SendsNotGranted += n
			}
		})
	})
}

// Campaigns implements consent.Store.
func (s *Store) Campaigns(ctx context.Context) ([]consent.CampaignStats, error) {
	var out []consent.CampaignStats
	err := s.view(ctx, "list campaigns", func(tx *bolt.Tx) error {
		return tx.Bucket(bCampaigns).ForEach(func(k, v []byte) error {
			var c consent.CampaignStats
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode campaign: %w", err)
			}
			c.ID = string(k)
			out = append(out, c)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].LastSend.Equal(out[j].LastSend) {
			return out[i].LastSend.After(out[j].LastSend)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Campaign implements consent.Store.
func (s *Store) Campaign(ctx context.Context, id string) (consent.CampaignStats, error) {
	var out consent.CampaignStats
	err := s.view(ctx, "read campaign", func(tx *bolt.Tx) error {
		c, ok, err := readCampaign(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("campaign %q: %w", id, consent.ErrNotFound)
		}
		out = c
		hb := tx.Bucket(bHourly).Bucket([]byte(id))
		if hb == nil {
			return nil
		}
		return hb.ForEach(func(k, v []byte) error {
			n := decodeCounters(v)
			out.Hourly = append(out.Hourly, consent.HourStat{Hour: fromUnixKey(k), Opens: n[0], MachineOpens: n[1], Clicks: n[2]})
			return nil
		})
	})
	return out, err
}
