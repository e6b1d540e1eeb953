package figures

import (
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func TestCampaignRates(t *testing.T) {
	c := NewCampaign(consent.CampaignStats{SendsGranted: 3, SendsNotGranted: 1, UniqueOpens: 2})
	if c.Sends != 4 || c.ConsentShare != 0.75 || !c.HasShare || c.OpenRate != 2.0/3 || !c.HasRate {
		t.Errorf("%+v", c)
	}
	// Nothing sent to a consenting recipient: no rate, rather than 0%.
	c = NewCampaign(consent.CampaignStats{SendsNotGranted: 5})
	if c.HasRate || !c.HasShare || c.ConsentShare != 0 {
		t.Errorf("%+v", c)
	}
	if c := NewCampaign(consent.CampaignStats{}); c.HasShare || c.HasRate {
		t.Errorf("empty campaign has rates: %+v", c)
	}
	total := Total([]consent.CampaignStats{{SendsGranted: 1, UniqueOpens: 1}, {SendsGranted: 1, SendsNotGranted: 2}})
	if total.Sends != 4 || total.OpenRate != 0.5 || total.ConsentShare != 0.5 {
		t.Errorf("total %+v", total)
	}
}

func TestOpensOverTime(t *testing.T) {
	h0 := time.Date(2026, 4, 1, 22, 0, 0, 0, time.UTC)
	hourly := []consent.HourStat{
		{Hour: h0.Add(3 * time.Hour), Opens: 1, MachineOpens: 4},
		{Hour: h0, Opens: 5, Clicks: 1},
	}
	b, byDay := OpensOverTime(hourly, false)
	if byDay || len(b) != 4 || !b[0].Start.Equal(h0) || b[0].Opens != 5 || b[1].Opens != 0 || b[3].Machine != 4 {
		t.Fatalf("hourly: %v %+v", byDay, b)
	}
	b, byDay = OpensOverTime(hourly, true)
	if !byDay || len(b) != 2 || b[0].Opens != 5 || b[1].Opens != 1 || !b[1].Start.Equal(time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("daily: %+v", b)
	}
	// A campaign opened over more than two weeks is shown per day.
	long := append(hourly, consent.HourStat{Hour: h0.Add(30 * 24 * time.Hour), Opens: 1})
	if b, byDay := OpensOverTime(long, false); !byDay || len(b) != 31 {
		t.Fatalf("long campaign: %v %d buckets", byDay, len(b))
	}
	if b, _ := OpensOverTime(nil, false); b != nil {
		t.Errorf("no opens: %+v", b)
	}
}

func TestConsentShare(t *testing.T) {
	share, known, ok := ConsentShare(map[consent.State]int64{consent.Granted: 3, consent.Refused: 1, consent.Withdrawn: 0, consent.None: 99})
	if !ok || known != 4 || share != 0.75 {
		t.Errorf("%v %v %v", share, known, ok)
	}
	if _, _, ok := ConsentShare(nil); ok {
		t.Error("share with nobody decided")
	}
}
