package storetest

import (
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// testRetentionOpens: opens expire 13 months after they happened, and a
// later open of the same campaign does not extend the first one (R7, R9).
func testRetentionOpens(e *env) {
	k := key(1)
	e.grant(k)
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: true, At: e.clock.Now()}))
	e.open1(k, "c1")
	e.clock.Advance(12 * month)
	if r := e.open1(k, "c1"); r != consent.Repeat {
		e.t.Fatalf("open after 12 months: %v, want repeat", r)
	}
	e.purge()
	if x := e.export(k); len(x.Opens) != 1 {
		e.t.Fatalf("open record purged before 13 months: %+v", x.Opens)
	}
	e.clock.Set(Start().Add(consent.DefaultRetention().Opens + day))
	e.purge()
	if x := e.export(k); len(x.Opens) != 0 {
		e.t.Errorf("13 months after the first open its record is still held (an open must not extend retention, R7): %+v", x.Opens)
	}
	c := e.campaign("c1")
	if len(c.Hourly) != 1 || !c.Hourly[0].Hour.Equal(Start().Add(12*month).Truncate(time.Hour)) {
		e.t.Errorf("hourly series after 13 months: %+v, want only the later open's hour", c.Hourly)
	}
	if c.UniqueOpens != 1 || c.Opens != 2 || c.SendsGranted != 1 {
		e.t.Errorf("anonymous campaign totals must stay: %s", describe(c))
	}
	if s := e.state(k); s.State != consent.Granted {
		e.t.Errorf("opens retention touched consent: %v", s.State)
	}
	if h, _ := e.st.History(e.ctx, k); len(h) != 1 {
		e.t.Errorf("granted consent's evidence purged: %+v", h)
	}
	if r := e.open1(k, "c1"); r != consent.Recorded {
		e.t.Errorf("open after the old record expired: %v, want recorded", r)
	}
}

func testRetentionOther(e *env) {
	ret := consent.DefaultRetention()
	t0 := Start()
	// Audit log: 1 year; the chain still verifies from the first kept entry.
	for range 2 {
		_, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:a", Action: "login", Result: "ok"})
		e.must(err)
	}
	// Evidence: 5 years after consent ended.
	withdrawn, refused, granted, erased, asked := key(1), key(2), key(3), key(4), key(5)
	e.grant(withdrawn)
	_, err := e.st.Refuse(e.ctx, refused, consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	e.grant(granted)
	e.grant(erased)
	e.must(e.st.Erase(e.ctx, erased, consent.Evidence{Source: consent.SourceErasure, Actor: "admin:dpo"}))
	e.must(e.st.MarkAsked(e.ctx, asked))
	// Deliverability: 3 years after the date.
	oldDate, newDate := key(6), key(7)
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, oldDate, t0))

	e.clock.Advance(day)
	e.withdraw(withdrawn)

	e.clock.Set(t0.Add(ret.AskQuiet + day))
	e.purge()
	if x := e.export(asked); !x.LastAskedConsent.IsZero() {
		e.t.Errorf("request marker kept after its quiet period: %v", x.LastAskedConsent)
	}
	kept, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:a", Action: "logout", Result: "ok"})
	e.must(err)
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, newDate, t0.Add(3*year)))

	e.clock.Set(t0.Add(ret.Audit + day))
	e.purge()
	got, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{})
	e.must(err)
	if len(got) != 1 || got[0].Seq != kept.Seq {
		e.t.Errorf("audit after 1 year: %+v, want only seq %d", got, kept.Seq)
	}
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != 1 {
		e.t.Errorf("verify after purging old entries: %+v", v)
	}
	next, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:a", Action: "login", Result: "ok"})
	e.must(err)
	if next.Seq != kept.Seq+1 {
		e.t.Errorf("seq after purge = %d, want %d", next.Seq, kept.Seq+1)
	}
	if v, _ := e.st.VerifyAudit(e.ctx); !v.OK || v.Checked != 2 {
		e.t.Errorf("verify after appending past a purge: %+v", v)
	}

	// Four years on, an open attempt by the withdrawn recipient records
	// nothing and so cannot extend anything (R7).
	e.clock.Set(t0.Add(4 * year))
	if r := e.open1(withdrawn, "c1"); r != consent.NotRecorded {
		e.t.Errorf("open after withdrawal: %v", r)
	}
	e.clock.Set(t0.Add(ret.Evidence - 10*day))
	e.purge()
	if h, _ := e.st.History(e.ctx, withdrawn); len(h) != 2 {
		e.t.Errorf("evidence purged before 5 years: %d events", len(h))
	}
	e.clock.Set(t0.Add(day + ret.Evidence + day))
	e.purge()
	statuses, err := e.st.Lookup(e.ctx, []consent.Key{withdrawn, refused, granted, erased})
	e.must(err)
	want := []consent.State{consent.None, consent.None, consent.Granted, consent.Withdrawn}
	for i, w := range want {
		if statuses[i].State != w {
			e.t.Errorf("after 5 years key %d is %v, want %v", i+1, statuses[i].State, w)
		}
	}
	for _, k := range []consent.Key{withdrawn, refused} {
		if h, _ := e.st.History(e.ctx, k); len(h) != 0 {
			e.t.Errorf("evidence kept 5 years after consent ended: %+v", h)
		}
	}
	if h, _ := e.st.History(e.ctx, granted); len(h) != 1 {
		e.t.Errorf("evidence of lasting consent purged: %+v", h)
	}
	if x := e.export(oldDate); x.LastDeliverable != "" {
		e.t.Errorf("deliverability date kept after 3 years: %q", x.LastDeliverable)
	}
	if x := e.export(newDate); x.LastDeliverable == "" {
		e.t.Error("deliverability date purged before 3 years")
	}
	cs, err := e.st.ConsentStats(e.ctx, t0.Add(-day), e.clock.Now())
	e.must(err)
	if cs.Current[consent.Withdrawn] != 1 || cs.Current[consent.Refused] != 0 || cs.Current[consent.Granted] != 1 {
		e.t.Errorf("current counts after purge: %v, want 1 granted, 1 withdrawn (the tombstone)", cs.Current)
	}
}

func testRetentionConfigurable(e *env) {
	opts := e.opts
	opts.Retention = consent.Retention{Opens: 2 * day, Audit: day}
	st := e.open(e.t, opts)
	k := key(1)
	_, err := st.Grant(e.ctx, k, consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	_, err = st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: "c1", At: e.clock.Now()})
	e.must(err)
	_, err = st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:a", Action: "login", Result: "ok"})
	e.must(err)
	e.clock.Advance(3 * day)
	e.must(st.Purge(e.ctx))
	x, err := st.Export(e.ctx, k)
	e.must(err)
	if len(x.Opens) != 0 {
		e.t.Errorf("2-day open retention not applied: %+v", x.Opens)
	}
	if a, _ := st.ReadAudit(e.ctx, consent.AuditQuery{}); len(a) != 0 {
		e.t.Errorf("1-day audit retention not applied: %+v", a)
	}
	if len(x.History) != 1 {
		e.t.Errorf("unset evidence retention did not default: %+v", x.History)
	}
}

func testFingerprint(e *env) {
	e.must(e.st.CheckFingerprint(e.ctx, "fp-one"))
	e.must(e.st.CheckFingerprint(e.ctx, "fp-one"))
	if err := e.st.CheckFingerprint(e.ctx, "fp-two"); !isErr(err, consent.ErrSecretsMismatch) {
		e.t.Errorf("other secrets: %v, want ErrSecretsMismatch", err)
	}
	e.must(e.st.Ping(e.ctx))
}

func testCancelled(e *env) {
	k := key(1)
	e.grant(k)
	ctx, cancel := contextCancelled(e.t)
	cancel()
	if _, err := e.st.Lookup(ctx, []consent.Key{k}); err == nil {
		e.t.Error("Lookup with a cancelled context succeeded; callers could not fail closed")
	}
	if _, err := e.st.RecordOpen(ctx, consent.Open{Key: k, Campaign: "c1", At: e.clock.Now()}); err == nil {
		e.t.Error("RecordOpen with a cancelled context succeeded")
	}
	if _, err := e.st.Campaign(e.ctx, "c1"); !isNotFound(err) {
		e.t.Errorf("a cancelled RecordOpen wrote something: %v", err)
	}
	if _, err := e.st.Grant(ctx, key(2), consent.Evidence{Source: consent.SourceAPI}); err == nil {
		e.t.Error("Grant with a cancelled context succeeded")
	}
	if s := e.state(key(2)); s.State != consent.None {
		e.t.Errorf("a cancelled Grant wrote %v", s.State)
	}
}

func testBadInput(e *env) {
	k := key(1)
	cases := map[string]error{}
	_, cases["grant without source"] = e.st.Grant(e.ctx, k, consent.Evidence{})
	cases["send without campaign"] = e.st.RecordSend(e.ctx, consent.Send{Granted: true})
	e.grant(k)
	_, cases["open without campaign"] = e.st.RecordOpen(e.ctx, consent.Open{Key: k})
	_, cases["click without campaign"] = e.st.RecordClick(e.ctx, consent.Click{Key: k})
	_, cases["audit without actor"] = e.st.AppendAudit(e.ctx, consent.AuditEntry{Action: "login"})
	_, cases["audit without action"] = e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:a"})
	cases["record without namespace"] = e.st.SharedKV().Put(e.ctx, "", "k", nil, 0)
	cases["record without key"] = e.st.SharedKV().Put(e.ctx, "ns", "", nil, 0)
	for name, err := range cases {
		if !isErr(err, consent.ErrInvalid) {
			e.t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if h, _ := e.st.History(e.ctx, k); len(h) != 1 {
		e.t.Errorf("bad input changed the history: %+v", h)
	}
	if c, err := e.st.Campaigns(e.ctx); err != nil || len(c) != 0 {
		e.t.Errorf("bad input created campaigns: %+v %v", c, err)
	}
	if a, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{}); err != nil || len(a) != 0 {
		e.t.Errorf("bad input reached the audit log: %+v %v", a, err)
	}
}
