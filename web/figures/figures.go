// Package figures derives the aggregate numbers the dashboard and the JSON
// API both show from the store's counters, so the two never disagree: rates
// among consenting recipients, opens over time, the current consent share.
package figures

import (
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Campaign is one campaign's counters and what follows from them. Opens and
// clicks exist only for recipients who consented (R1), so every rate is
// "among consenting recipients".
type Campaign struct {
	consent.CampaignStats
	Sends int64 `json:"sends"`
	// ConsentShare is the share of the campaign's emails that went to a
	// recipient who had consented; HasShare is false when nothing was sent.
	ConsentShare float64 `json:"consent_share"`
	HasShare     bool    `json:"-"`
	// OpenRate is unique opens / emails sent to consenting recipients.
	OpenRate float64 `json:"open_rate_consenting"`
	HasRate  bool    `json:"-"`
}

// NewCampaign derives the figures of c.
func NewCampaign(c consent.CampaignStats) Campaign {
	r := Campaign{CampaignStats: c, Sends: c.SendsGranted + c.SendsNotGranted}
	if r.Sends > 0 {
		r.ConsentShare, r.HasShare = float64(c.SendsGranted)/float64(r.Sends), true
	}
	if c.SendsGranted > 0 {
		r.OpenRate, r.HasRate = float64(c.UniqueOpens)/float64(c.SendsGranted), true
	}
	return r
}

// Title is the name, or the id when the campaign has no name.
func (c Campaign) Title() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// Total adds up the counters of several campaigns.
func Total(list []consent.CampaignStats) Campaign {
	var t consent.CampaignStats
	for _, c := range list {
		t.SendsGranted += c.SendsGranted
		t.SendsNotGranted += c.SendsNotGranted
		t.UniqueOpens += c.UniqueOpens
		t.Opens += c.Opens
		t.MachineOpens += c.MachineOpens
		t.UniqueClicks += c.UniqueClicks
		t.Clicks += c.Clicks
	}
	return NewCampaign(t)
}

// Bucket is one point of a campaign's opens over time.
type Bucket struct {
	Start   time.Time `json:"start"`
	Opens   int64     `json:"opens"`
	Machine int64     `json:"machine_opens"`
	Clicks  int64     `json:"clicks"`
}

// MaxHourBuckets caps the hourly view; longer campaigns are shown per day.
const MaxHourBuckets = 24 * 14

// OpensOverTime fills the gaps between the first and last hour with zeros,
// so a chart's x axis is time, and groups by UTC day when byDay is asked or
// the campaign spans more than MaxHourBuckets hours. It reports whether the
// buckets are days.
func OpensOverTime(hourly []consent.HourStat, byDay bool) ([]Bucket, bool) {
	if len(hourly) == 0 {
		return nil, byDay
	}
	first, last := hourly[0].Hour, hourly[0].Hour
	for _, h := range hourly {
		if h.Hour.Before(first) {
			first = h.Hour
		}
		if h.Hour.After(last) {
			last = h.Hour
		}
	}
	if last.Sub(first) > MaxHourBuckets*time.Hour {
		byDay = true
	}
	step := time.Hour
	trunc := func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
	if byDay {
		step = 24 * time.Hour
		trunc = consent.Day
	}
	first, last = trunc(first), trunc(last)
	out := make([]Bucket, int(last.Sub(first)/step)+1)
	for i := range out {
		out[i].Start = first.Add(time.Duration(i) * step)
	}
	for _, h := range hourly {
		i := int(trunc(h.Hour).Sub(first) / step)
		out[i].Opens += h.Opens
		out[i].Machine += h.MachineOpens
		out[i].Clicks += h.Clicks
	}
	return out, byDay
}

// ConsentShare is the share of recipients with a recorded decision who
// currently consent; ok is false when nobody has decided yet.
func ConsentShare(current map[consent.State]int64) (share float64, known int64, ok bool) {
	for _, s := range []consent.State{consent.Granted, consent.Refused, consent.Withdrawn} {
		known += current[s]
	}
	if known == 0 {
		return 0, 0, false
	}
	return float64(current[consent.Granted]) / float64(known), known, true
}
