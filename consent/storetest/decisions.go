package storetest

import (
	"slices"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func testLookup(e *env) {
	got, err := e.st.Lookup(e.ctx, nil)
	e.must(err)
	if len(got) != 0 {
		e.t.Errorf("Lookup(nil) = %v, want empty", got)
	}
	e.grant(key(2))
	e.clock.Advance(time.Minute)
	_, err = e.st.Refuse(e.ctx, key(3), consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	keys := []consent.Key{key(1), key(2), key(3), key(2), key(4)}
	got, err = e.st.Lookup(e.ctx, keys)
	e.must(err)
	want := []consent.State{consent.None, consent.Granted, consent.Refused, consent.Granted, consent.None}
	if len(got) != len(want) {
		e.t.Fatalf("Lookup of %d keys returned %d", len(keys), len(got))
	}
	for i, w := range want {
		if got[i].State != w {
			e.t.Errorf("key %d: state %v, want %v (statuses must come back in the order asked)", i, got[i].State, w)
		}
	}
	if !got[0].Since.IsZero() {
		e.t.Errorf("unknown key has Since %v", got[0].Since)
	}
	if !got[1].Since.Equal(Start()) || !got[2].Since.Equal(Start().Add(time.Minute)) {
		e.t.Errorf("Since = %v / %v, want the decision times %v / %v", got[1].Since, got[2].Since, Start(), Start().Add(time.Minute))
	}
	// A big batch still answers in order (one round trip for the relay).
	var many []consent.Key
	for i := range 500 {
		many = append(many, key(100+i))
	}
	many[250] = key(2)
	got, err = e.st.Lookup(e.ctx, many)
	e.must(err)
	for i, s := range got {
		if (s.State == consent.Granted) != (i == 250) {
			e.t.Fatalf("batch of 500: entry %d has state %v", i, s.State)
		}
	}
}

func testDecisions(e *env) {
	k := key(1)
	ev := consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: "2026-01", TextHash: textHash}
	g, err := e.st.Grant(e.ctx, k, ev)
	e.must(err)
	if g.State != consent.Granted || g.Source != ev.Source || g.PolicyVersion != "2026-01" || g.TextHash != textHash {
		e.t.Errorf("Grant returned %+v, want the evidence back", g)
	}
	if !g.At.Equal(Start()) {
		e.t.Errorf("event time %v, want the store clock %v", g.At, Start())
	}
	if g.ID.Version() != 7 {
		e.t.Errorf("event id %v is version %d, want a UUIDv7", g.ID, g.ID.Version())
	}
	if s := e.state(k); s.State != consent.Granted {
		e.t.Errorf("after Grant: %v", s.State)
	}

	e.clock.Advance(time.Hour)
	w, err := e.st.Withdraw(e.ctx, k, consent.Evidence{Source: consent.SourceCLI, Actor: "cli:dpo"})
	e.must(err)
	if s := e.state(k); s.State != consent.Withdrawn || !s.Since.Equal(w.At) {
		e.t.Errorf("after Withdraw: %+v", s)
	}
	e.clock.Advance(time.Hour)
	// Imports carry the time consent was collected elsewhere.
	collected := Start().Add(-30 * day)
	r, err := e.st.Refuse(e.ctx, k, consent.Evidence{Source: consent.SourceImport, Actor: "api:crm", At: collected})
	e.must(err)
	if !r.At.Equal(collected) {
		e.t.Errorf("import event at %v, want the given time %v", r.At, collected)
	}

	h, err := e.st.History(e.ctx, k)
	e.must(err)
	if len(h) != 3 {
		e.t.Fatalf("history has %d events, want 3", len(h))
	}
	wantStates := []consent.State{consent.Granted, consent.Withdrawn, consent.Refused}
	ids := map[string]bool{}
	for i, ev := range h {
		if ev.State != wantStates[i] {
			e.t.Errorf("history[%d] = %v, want %v (oldest first, in the order decided)", i, ev.State, wantStates[i])
		}
		ids[ev.ID.String()] = true
	}
	if len(ids) != 3 {
		e.t.Errorf("event ids not unique: %v", ids)
	}
	if h[0].ID != g.ID || h[1].Actor != "cli:dpo" || h[1].Source != consent.SourceCLI || h[2].Actor != "api:crm" {
		e.t.Errorf("history lost evidence: %+v", h)
	}
	none, err := e.st.History(e.ctx, key(99))
	e.must(err)
	if len(none) != 0 {
		e.t.Errorf("unknown key has history %v", none)
	}
}

func testEligibleToAsk(e *env) {
	ask := func(k consent.Key) bool {
		e.t.Helper()
		ok, err := e.st.EligibleToAsk(e.ctx, k)
		e.must(err)
		return ok
	}
	fresh, asked, refused, granted, withdrawn := key(1), key(2), key(3), key(4), key(5)
	if !ask(fresh) {
		e.t.Error("a never-asked recipient is not eligible")
	}
	e.must(e.st.MarkAsked(e.ctx, asked))
	_, err := e.st.Refuse(e.ctx, refused, consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	e.grant(granted)
	e.grant(withdrawn)
	e.withdraw(withdrawn)
	for name, k := range map[string]consent.Key{"unanswered request": asked, "refusal": refused, "grant": granted, "withdrawal": withdrawn} {
		if ask(k) {
			e.t.Errorf("eligible right after a %s (R5)", name)
		}
	}
	e.clock.Advance(5 * month)
	if ask(asked) || ask(refused) {
		e.t.Error("eligible within 6 months (R5)")
	}
	e.clock.Advance(2 * month)
	if !ask(asked) {
		e.t.Error("not eligible 7 months after an unanswered request")
	}
	if !ask(refused) {
		e.t.Error("not eligible 7 months after a refusal")
	}
	if ask(granted) {
		e.t.Error("a granted recipient is asked again")
	}
	if ask(withdrawn) {
		e.t.Error("a recipient who withdrew is asked again")
	}
	// Asking again restarts the quiet period.
	e.must(e.st.MarkAsked(e.ctx, asked))
	if ask(asked) {
		e.t.Error("eligible right after a second request")
	}
	x := e.export(asked)
	if !x.LastAskedConsent.Equal(e.clock.Now()) {
		e.t.Errorf("export last request %v, want %v", x.LastAskedConsent, e.clock.Now())
	}
}

func testConsentStats(e *env) {
	day0 := consent.Day(Start())
	e.grant(key(1))
	_, err := e.st.Refuse(e.ctx, key(2), consent.Evidence{Source: consent.SourceConsentPage})
	e.must(err)
	e.clock.Advance(day)
	_, err = e.st.Withdraw(e.ctx, key(1), consent.Evidence{Source: consent.SourceCLI, Actor: "cli:dpo"})
	e.must(err)
	_, err = e.st.Grant(e.ctx, key(3), consent.Evidence{Source: consent.SourceImport, At: day0.Add(-day + hour)})
	e.must(err)
	e.grant(key(4))

	cs, err := e.st.ConsentStats(e.ctx, day0.Add(-day), day0.Add(2*day))
	e.must(err)
	want := []consent.ConsentDay{
		{Day: day0.Add(-day), Source: consent.SourceImport, Grants: 1},
		{Day: day0, Source: consent.SourceConsentPage, Grants: 1, Refusals: 1},
		{Day: day0.Add(day), Source: consent.SourceCLI, Withdrawals: 1},
		{Day: day0.Add(day), Source: consent.SourceConsentPage, Grants: 1},
	}
	if !slices.EqualFunc(cs.Days, want, func(a, b consent.ConsentDay) bool {
		return a.Day.Equal(b.Day) && a.Source == b.Source && a.Grants == b.Grants && a.Refusals == b.Refusals && a.Withdrawals == b.Withdrawals
	}) {
		e.t.Errorf("days (sorted by day, then source):\n got %+v\nwant %+v", cs.Days, want)
	}
	if cs.Current[consent.Granted] != 2 || cs.Current[consent.Refused] != 1 || cs.Current[consent.Withdrawn] != 1 {
		e.t.Errorf("current counts %v, want 2 granted, 1 refused, 1 withdrawn", cs.Current)
	}
	// [from, to) bounds.
	cs, err = e.st.ConsentStats(e.ctx, day0, day0.Add(day))
	e.must(err)
	if len(cs.Days) != 1 || !cs.Days[0].Day.Equal(day0) {
		e.t.Errorf("one-day window: %+v", cs.Days)
	}
}
