package storetest

import (
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func testAudit(e *env) {
	app := func(actor, action, target string) consent.AuditEntry {
		e.t.Helper()
		got, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: actor, Action: action, Target: target, Result: "ok"})
		e.must(err)
		e.clock.Advance(time.Minute)
		return got
	}
	first := app("admin:alice", "login", "alice")
	if first.Seq != 1 || first.MAC == "" || !first.At.Equal(Start()) {
		e.t.Errorf("first entry: %+v, want seq 1, a MAC and the store's time", first)
	}
	app("cli:root", "consent.grant", key(1).String())
	app("admin:alice", "dsar.export", key(1).String())
	app("admin:bob", "consent.withdraw", key(2).String())
	last := app("api:crm", "consent.grant", key(3).String())
	if last.Seq != 5 {
		e.t.Errorf("fifth entry has seq %d", last.Seq)
	}

	read := func(q consent.AuditQuery) []uint64 {
		e.t.Helper()
		got, err := e.st.ReadAudit(e.ctx, q)
		e.must(err)
		var seqs []uint64
		for _, a := range got {
			seqs = append(seqs, a.Seq)
		}
		return seqs
	}
	cases := []struct {
		name string
		q    consent.AuditQuery
		want []uint64
	}{
		{"all, oldest first", consent.AuditQuery{}, []uint64{1, 2, 3, 4, 5}},
		{"newest first", consent.AuditQuery{Newest: true}, []uint64{5, 4, 3, 2, 1}},
		{"newest two", consent.AuditQuery{Newest: true, Limit: 2}, []uint64{5, 4}},
		{"oldest two", consent.AuditQuery{Limit: 2}, []uint64{1, 2}},
		{"actor", consent.AuditQuery{Actor: "admin:alice"}, []uint64{1, 3}},
		{"action prefix", consent.AuditQuery{Action: "consent."}, []uint64{2, 4, 5}},
		{"target", consent.AuditQuery{Target: key(1).String()}, []uint64{2, 3}},
		{"after seq", consent.AuditQuery{AfterSeq: 3}, []uint64{4, 5}},
		{"time window [since, until)", consent.AuditQuery{Since: Start().Add(time.Minute), Until: Start().Add(3 * time.Minute)}, []uint64{2, 3}},
	}
	for _, c := range cases {
		got := read(c.q)
		if len(got) != len(c.want) {
			e.t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				e.t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
	all, err := e.st.ReadAudit(e.ctx, consent.AuditQuery{})
	e.must(err)
	if all[1].Actor != "cli:root" || all[1].Result != "ok" || all[1].Target != key(1).String() {
		e.t.Errorf("entry fields not kept: %+v", all[1])
	}
	v, err := e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != 5 {
		e.t.Errorf("verify of an intact log: %+v", v)
	}
	// The entries verify with the chain key itself, not only by the store's
	// own say-so.
	if v := e.opts.Audit.Verify(consent.AuditAnchor{}, all, consent.AuditAnchor{Seq: last.Seq, MAC: last.MAC}); !v.OK {
		e.t.Errorf("entries do not verify with the audit key: %+v", v)
	}
	// Default limit is 100.
	for range 105 {
		_, err := e.st.AppendAudit(e.ctx, consent.AuditEntry{Actor: "admin:alice", Action: "campaign.view", Result: "ok"})
		e.must(err)
	}
	if n := len(read(consent.AuditQuery{})); n != 100 {
		e.t.Errorf("default limit returned %d entries, want 100", n)
	}
	v, err = e.st.VerifyAudit(e.ctx)
	e.must(err)
	if !v.OK || v.Checked != 110 {
		e.t.Errorf("verify of 110 entries: %+v", v)
	}
}

func testExportErase(e *env) {
	k, other := key(1), key(2)
	e.must(e.st.MarkAsked(e.ctx, k))
	e.clock.Advance(time.Hour)
	e.grant(k)
	e.grant(other)
	e.must(e.st.RecordSend(e.ctx, consent.Send{Campaign: "c1", Granted: true, At: e.clock.Now()}))
	e.open1(k, "c1")
	e.open1(other, "c1")
	_, err := e.st.RecordClick(e.ctx, consent.Click{Key: k, Campaign: "c1", At: e.clock.Now()})
	e.must(err)
	e.must(e.st.RecordDeliverabilityOpen(e.ctx, k, e.clock.Now()))

	x := e.export(k)
	if x.Key != k.String() || x.State != "granted" || len(x.History) != 1 || x.History[0].StateName != "granted" {
		e.t.Errorf("export: %+v", x)
	}
	if len(x.Opens) != 1 || x.Opens[0].Opens != 1 || x.Opens[0].Clicks != 1 || x.LastDeliverable == "" || x.LastAskedConsent.IsZero() {
		e.t.Errorf("export misses data held: %+v", x)
	}
	before := e.campaign("c1")

	e.clock.Advance(time.Hour)
	e.must(e.st.Erase(e.ctx, k, consent.Evidence{Source: consent.SourceErasure, Actor: "admin:dpo"}))
	if s := e.state(k); s.State != consent.Withdrawn {
		e.t.Errorf("after erasure the state is %v; the tombstone must keep withdrawn", s.State)
	}
	h, err := e.st.History(e.ctx, k)
	e.must(err)
	if len(h) != 0 {
		e.t.Errorf("history survives erasure: %+v", h)
	}
	x = e.export(k)
	if len(x.History) != 0 || len(x.Opens) != 0 || x.LastDeliverable != "" || !x.LastAskedConsent.IsZero() || x.State != "withdrawn" {
		e.t.Errorf("export after erasure: %+v", x)
	}
	// Never tracked again, never asked again.
	if r := e.open1(k, "c1"); r != consent.NotRecorded {
		e.t.Errorf("open after erasure: %v", r)
	}
	if ok, err := e.st.EligibleToAsk(e.ctx, k); err != nil || ok {
		e.t.Errorf("erased recipient eligible to ask: %v %v", ok, err)
	}
	// Anonymous campaign totals stay; the other recipient is untouched.
	if after := e.campaign("c1"); describe(after) != describe(before) {
		e.t.Errorf("erasure changed campaign totals: %s -> %s", describe(before), describe(after))
	}
	if xo := e.export(other); len(xo.Opens) != 1 || xo.State != "granted" || len(xo.History) != 1 {
		e.t.Errorf("erasure touched another recipient: %+v", xo)
	}
	// The erased recipient may later grant again, by a positive act.
	e.grant(k)
	if r := e.open1(k, "c1"); r != consent.Recorded {
		e.t.Errorf("open after a new grant following erasure: %v, want recorded (old opens erased)", r)
	}
}
