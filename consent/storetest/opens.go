package storetest

import (
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func testRecordOpen(e *env) {
	k, never := key(1), key(2)
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", CampaignName: "Spring sale", Granted: true, At: e.clock.Now()}))
	before := e.campaign("c1")

	// Silence is refusal (R1): nothing is written for a recipient who never
	// decided, nor for one who refused.
	if r := e.open1(never, "c1"); r != consent.NotRecorded {
		e.t.Errorf("open without consent: %v", r)
	}
	_, err := e.st.Refuse(e.ctx, key(3), consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	if r := e.open1(key(3), "c1"); r != consent.NotRecorded {
		e.t.Errorf("open after refusal: %v", r)
	}
	if after := e.campaign("c1"); describe(after) != describe(before) || len(after.Hourly) != 0 {
		e.t.Errorf("an open without consent changed the campaign: %s -> %s", describe(before), describe(after))
	}
	if x := e.export(never); len(x.Opens) != 0 {
		e.t.Errorf("an open without consent is in the export: %+v", x.Opens)
	}

	e.grant(k)
	if r := e.open1(k, "c1"); r != consent.Recorded {
		e.t.Errorf("first open: %v, want recorded", r)
	}
	e.clock.Advance(90 * time.Minute)
	if r := e.open1(k, "c1"); r != consent.Repeat {
		e.t.Errorf("second open: %v, want repeat", r)
	}
	c := e.campaign("c1")
	if c.UniqueOpens != 1 || c.Opens != 2 || c.MachineOpens != 0 {
		e.t.Errorf("after two opens by one recipient: %s", describe(c))
	}
	h0 := Start().Truncate(time.Hour)
	if len(c.Hourly) != 2 || !c.Hourly[0].Hour.Equal(h0) || c.Hourly[0].Opens != 1 ||
		!c.Hourly[1].Hour.Equal(h0.Add(2*time.Hour)) || c.Hourly[1].Opens != 1 {
		e.t.Errorf("hourly series %+v, want one open at %v and one at %v (UTC hours, oldest first)", c.Hourly, h0, h0.Add(2*time.Hour))
	}
	x := e.export(k)
	if len(x.Opens) != 1 || x.Opens[0].Campaign != "c1" || x.Opens[0].Opens != 2 || !x.Opens[0].FirstOpen.Equal(Start()) {
		e.t.Errorf("export opens %+v, want c1 opened twice, first at %v", x.Opens, Start())
	}

	// A withdrawal silences emails already sent (R3).
	e.withdraw(k)
	if r := e.open1(k, "c1"); r != consent.NotRecorded {
		e.t.Errorf("open after withdrawal: %v", r)
	}
	if c2 := e.campaign("c1"); c2.Opens != 2 {
		e.t.Errorf("open after withdrawal counted: %s", describe(c2))
	}
	if x := e.export(k); x.Opens[0].Opens != 2 {
		e.t.Errorf("open after withdrawal in the export: %+v", x.Opens)
	}
	// Granting again re-enables it; it is still the same unique opener.
	e.grant(k)
	if r := e.open1(k, "c1"); r != consent.Repeat {
		e.t.Errorf("open after re-grant: %v, want repeat", r)
	}
	// A second campaign is its own unique open.
	if r := e.open1(k, "c2"); r != consent.Recorded {
		e.t.Errorf("first open of another campaign: %v", r)
	}
	if x := e.export(k); len(x.Opens) != 2 {
		e.t.Errorf("export lists %d campaigns, want 2", len(x.Opens))
	}
	// Open time zero means now.
	r, err := e.st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: "c3"})
	e.must(err)
	if r != consent.Recorded {
		e.t.Errorf("open without time: %v", r)
	}
	if c3 := e.campaign("c3"); len(c3.Hourly) != 1 || !c3.Hourly[0].Hour.Equal(e.clock.Now().Truncate(time.Hour)) {
		e.t.Errorf("open without time not counted at the store's clock: %+v", c3.Hourly)
	}
}

func testMachineOpens(e *env) {
	k := key(1)
	if r, err := e.st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: "c1", At: e.clock.Now(), Machine: true}); err != nil || r != consent.NotRecorded {
		e.t.Errorf("machine open without consent: %v %v", r, err)
	}
	e.grant(k)
	for range 3 {
		r, err := e.st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: "c1", At: e.clock.Now(), Machine: true})
		e.must(err)
		if r == consent.NotRecorded {
			e.t.Error("machine open of a consenting recipient not counted")
		}
	}
	c := e.campaign("c1")
	if c.MachineOpens != 3 || c.Opens != 0 || c.UniqueOpens != 0 {
		e.t.Errorf("machine opens must be counted apart, never as a person's open: %s", describe(c))
	}
	if len(c.Hourly) != 1 || c.Hourly[0].MachineOpens != 3 || c.Hourly[0].Opens != 0 {
		e.t.Errorf("hourly machine opens: %+v", c.Hourly)
	}
	// The person's first real open is still their unique open.
	if r := e.open1(k, "c1"); r != consent.Recorded {
		e.t.Errorf("first human open after machine opens: %v, want recorded", r)
	}
	if x := e.export(k); len(x.Opens) != 1 || x.Opens[0].Opens != 1 {
		e.t.Errorf("export after machine opens: %+v", x.Opens)
	}
}

func testRecordClick(e *env) {
	k := key(1)
	click := func() consent.OpenResult {
		r, err := e.st.RecordClick(e.ctx, consent.Click{Key: k, Campaign: "c1", At: e.clock.Now()})
		e.must(err)
		return r
	}
	if r := click(); r != consent.NotRecorded {
		e.t.Errorf("click without consent: %v", r)
	}
	if _, err := e.st.Campaign(e.ctx, "c1"); !isNotFound(err) {
		e.t.Errorf("click without consent created the campaign (err %v)", err)
	}
	e.grant(k)
	if r := click(); r != consent.Recorded {
		e.t.Errorf("first click: %v", r)
	}
	if r := click(); r != consent.Repeat {
		e.t.Errorf("second click: %v", r)
	}
	c := e.campaign("c1")
	if c.UniqueClicks != 1 || c.Clicks != 2 || c.Opens != 0 {
		e.t.Errorf("clicks: %s", describe(c))
	}
	if len(c.Hourly) != 1 || c.Hourly[0].Clicks != 2 {
		e.t.Errorf("hourly clicks: %+v", c.Hourly)
	}
	if x := e.export(k); len(x.Opens) != 1 || x.Opens[0].Clicks != 2 {
		e.t.Errorf("export clicks: %+v", x.Opens)
	}
	e.withdraw(k)
	if r := click(); r != consent.NotRecorded {
		e.t.Errorf("click after withdrawal: %v", r)
	}
}

func testDeliverability(e *env) {
	k := key(1)
	// Exempt purpose (R4): no consent needed, the date only.
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, k, Start().Add(5*time.Hour+17*time.Minute)))
	x := e.export(k)
	if x.LastDeliverable != Start().Format(time.DateOnly) {
		e.t.Errorf("deliverability date %q, want %q", x.LastDeliverable, Start().Format(time.DateOnly))
	}
	if len(x.Opens) != 0 || x.State != "none" {
		e.t.Errorf("a deliverability open recorded more than the date: %+v", x)
	}
	later := Start().Add(40 * day)
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, k, later))
	if x := e.export(k); x.LastDeliverable != later.Format(time.DateOnly) {
		e.t.Errorf("date not overwritten: %q", x.LastDeliverable)
	}
	if s := e.state(k); s.State != consent.None {
		e.t.Errorf("deliverability open changed consent: %v", s.State)
	}
}

func testRecordSend(e *env) {
	t0 := e.clock.Now()
	send := func(c, name string, granted bool, at time.Time) {
		e.t.Helper()
		e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: c, CampaignName: name, Granted: granted, At: at}))
	}
	send("c1", "Spring sale", true, t0)
	send("c1", "", false, t0.Add(time.Hour))
	send("c1", "", false, t0.Add(2*time.Hour))
	send("c2", "Newsletter 12", true, t0.Add(3*time.Hour))
	send("c3", "Old", false, t0.Add(-48*time.Hour))

	c := e.campaign("c1")
	if c.Name != "Spring sale" || c.SendsGranted != 1 || c.SendsNotGranted != 2 {
		e.t.Errorf("c1: name %q, %s", c.Name, describe(c))
	}
	if !c.FirstSend.Equal(t0) || !c.LastSend.Equal(t0.Add(2*time.Hour)) {
		e.t.Errorf("c1 first/last send %v / %v", c.FirstSend, c.LastSend)
	}
	// A later send may rename the campaign.
	send("c1", "Spring sale (resend)", true, t0.Add(4*time.Hour))
	all, err := e.st.Campaigns(e.ctx)
	e.must(err)
	var order []string
	for _, c := range all {
		order = append(order, c.ID)
		if len(c.Hourly) != 0 {
			e.t.Errorf("Campaigns returned hourly series for %s", c.ID)
		}
	}
	if len(order) != 3 || order[0] != "c1" || order[1] != "c2" || order[2] != "c3" {
		e.t.Errorf("campaign order %v, want most recent last send first: c1 c2 c3", order)
	}
	if all[0].Name != "Spring sale (resend)" || all[0].SendsGranted != 2 {
		e.t.Errorf("c1 after resend: %q %s", all[0].Name, describe(all[0]))
	}
	if _, err := e.st.Campaign(e.ctx, "nope"); !isNotFound(err) {
		e.t.Errorf("unknown campaign: %v, want ErrNotFound", err)
	}
	// Send time zero means now.
	send("c4", "", true, time.Time{})
	if c := e.campaign("c4"); !c.LastSend.Equal(e.clock.Now()) {
		e.t.Errorf("send without time: last send %v", c.LastSend)
	}
}

// testRecordSendCount: one RecordSend may carry many messages (the relay
// writes its tally in bulk, proxy/sendtally.go).
func testRecordSendCount(e *env) {
	t0 := e.clock.Now()
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", CampaignName: "Spring sale", Granted: true, At: t0}))
	before := e.campaign("c1")

	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: true, At: t0.Add(time.Minute), Count: 5}))
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: false, At: t0.Add(2 * time.Minute), Count: 3}))
	c := e.campaign("c1")
	if c.SendsGranted != before.SendsGranted+5 || c.SendsNotGranted != before.SendsNotGranted+3 {
		e.t.Errorf("after Count 5 granted and 3 not: %s, want %d/%d", describe(c), before.SendsGranted+5, before.SendsNotGranted+3)
	}
	if c.Name != "Spring sale" || !c.FirstSend.Equal(t0) || !c.LastSend.Equal(t0.Add(2*time.Minute)) {
		e.t.Errorf("bulk sends changed name or times: %q %v / %v", c.Name, c.FirstSend, c.LastSend)
	}

	// Count 0 is one message, as before Count existed.
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: false, At: t0.Add(3 * time.Minute)}))
	if c := e.campaign("c1"); c.SendsGranted != before.SendsGranted+5 || c.SendsNotGranted != before.SendsNotGranted+4 {
		e.t.Errorf("Count 0 counted %s, want one more not granted", describe(c))
	}

	// A negative count is refused and changes nothing, on a known campaign
	// and on a new one.
	prev := e.campaign("c1")
	for _, id := range []string{"c1", "c-new"} {
		err := e.st.RecordSend(e.ctx, consent.Send{Campaign: id, Granted: true, At: t0.Add(time.Hour), Count: -2})
		if !isErr(err, consent.ErrInvalid) {
			e.t.Errorf("negative count on %s: %v, want ErrInvalid", id, err)
		}
	}
	if c := e.campaign("c1"); c.SendsGranted != prev.SendsGranted || c.SendsNotGranted != prev.SendsNotGranted || !c.LastSend.Equal(prev.LastSend) {
		e.t.Errorf("a refused negative count changed the campaign: %s, last send %v", describe(c), c.LastSend)
	}
	if _, err := e.st.Campaign(e.ctx, "c-new"); !isNotFound(err) {
		e.t.Errorf("a refused negative count created a campaign: %v", err)
	}
}
