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

// campaign is the stored form of a campaign's totals.
type campaign struct {
	Name            string    `json:"name,omitempty"`
	FirstSend       time.Time `json:"first_send,omitzero"`
	LastSend        time.Time `json:"last_send,omitzero"`
	SendsGranted    int64     `json:"sends_granted,omitempty"`
	SendsNotGranted int64     `json:"sends_not_granted,omitempty"`
	UniqueOpens     int64     `json:"unique_opens,omitempty"`
	Opens           int64     `json:"opens,omitempty"`
	MachineOpens    int64     `json:"machine_opens,omitempty"`
	UniqueClicks    int64     `json:"unique_clicks,omitempty"`
	Clicks          int64     `json:"clicks,omitempty"`
}

func (c campaign) stats(id string) consent.CampaignStats {
	return consent.CampaignStats{ID: id, Name: c.Name, FirstSend: c.FirstSend, LastSend: c.LastSend,
		SendsGranted: c.SendsGranted, SendsNotGranted: c.SendsNotGranted, UniqueOpens: c.UniqueOpens,
		Opens: c.Opens, MachineOpens: c.MachineOpens, UniqueClicks: c.UniqueClicks, Clicks: c.Clicks}
}

func readCampaign(tx *bolt.Tx, id string) (campaign, bool, error) {
	raw := tx.Bucket(bCampaigns).Get([]byte(id))
	var c campaign
	if raw == nil {
		return c, false, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, false, fmt.Errorf("decode campaign: %w", err)
	}
	return c, true, nil
}

// updateCampaign applies fn to a campaign's totals, creating it.
func updateCampaign(tx *bolt.Tx, id string, fn func(c *campaign)) error {
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

// RecordOpen implements consent.Store: the consent check and every write
// happen in one transaction, so a withdrawal committed before it wins (R3).
func (s *Store) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	if o.Campaign == "" {
		return consent.NotRecorded, fmt.Errorf("record open: %w", invalid("no campaign"))
	}
	at := o.At
	if at.IsZero() {
		at = s.now()
	}
	var res consent.OpenResult
	err := s.batch(ctx, "record open", func(tx *bolt.Tx) error {
		res = consent.NotRecorded
		if !granted(tx, o.Key) {
			return nil // R1: nothing at all is written.
		}
		if o.Machine {
			res = consent.Recorded
			if err := updateCampaign(tx, o.Campaign, func(c *campaign) { c.MachineOpens++ }); err != nil {
				return err
			}
			return countHour(tx, o.Campaign, at, 1)
		}
		ob := tx.Bucket(bOpens)
		ok := openKey(o.Key, o.Campaign)
		e := decodeOpenEntry(ob.Get(ok))
		if e.Created.IsZero() {
			e.Created = at
		}
		first := e.FirstOpen.IsZero()
		if first {
			e.FirstOpen = at
			res = consent.Recorded
		} else {
			res = consent.Repeat
		}
		e.Opens++
		if err := ob.Put(ok, e.encode()); err != nil {
			return err
		}
		if err := updateCampaign(tx, o.Campaign, func(c *campaign) {
			c.Opens++
			if first {
				c.UniqueOpens++
			}
		}); err != nil {
			return err
		}
		return countHour(tx, o.Campaign, at, 0)
	})
	if err != nil {
		return consent.NotRecorded, err
	}
	return res, nil
}

// RecordClick implements consent.Store.
func (s *Store) RecordClick(ctx context.Context, cl consent.Click) (consent.OpenResult, error) {
	if cl.Campaign == "" {
		return consent.NotRecorded, fmt.Errorf("record click: %w", invalid("no campaign"))
	}
	at := cl.At
	if at.IsZero() {
		at = s.now()
	}
	var res consent.OpenResult
	err := s.batch(ctx, "record click", func(tx *bolt.Tx) error {
		res = consent.NotRecorded
		if !granted(tx, cl.Key) {
			return nil
		}
		ob := tx.Bucket(bOpens)
		ok := openKey(cl.Key, cl.Campaign)
		e := decodeOpenEntry(ob.Get(ok))
		if e.Created.IsZero() {
			e.Created = at
		}
		first := e.Clicks == 0
		res = consent.Repeat
		if first {
			res = consent.Recorded
		}
		e.Clicks++
		if err := ob.Put(ok, e.encode()); err != nil {
			return err
		}
		if err := updateCampaign(tx, cl.Campaign, func(c *campaign) {
			c.Clicks++
			if first {
				c.UniqueClicks++
			}
		}); err != nil {
			return err
		}
		return countHour(tx, cl.Campaign, at, 2)
	})
	if err != nil {
		return consent.NotRecorded, err
	}
	return res, nil
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
	at := sd.At
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	return s.batch(ctx, "record send", func(tx *bolt.Tx) error {
		return updateCampaign(tx, sd.Campaign, func(c *campaign) {
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
				c.SendsGranted++
			} else {
				c.SendsNotGranted++
			}
		})
	})
}

// Campaigns implements consent.Store.
func (s *Store) Campaigns(ctx context.Context) ([]consent.CampaignStats, error) {
	var out []consent.CampaignStats
	err := s.view(ctx, "list campaigns", func(tx *bolt.Tx) error {
		return tx.Bucket(bCampaigns).ForEach(func(k, v []byte) error {
			var c campaign
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode campaign: %w", err)
			}
			out = append(out, c.stats(string(k)))
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
		out = c.stats(id)
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
